import json

import numpy as np
import pytest

from cptpipe.data.tokens import TokenSource
from cptpipe.mix.index import build_phase, sample_source
from cptpipe.mix.pack import Pieces, pack, pack_rows
from cptpipe.mix.plan import MixBlocks, build_mix
from cptpipe.mix.recipes import plan_phase
from cptpipe.params import MixParams, PhaseParams
from tests.helpers import recipe_spec, tiny_tokenizer

DOCS_QA = PhaseParams(domain=0.8, qa=0.2)  # QA 0.2 x 0.92 of the phase


def pieces(*rows: tuple[str, int, int]) -> Pieces:
    """Pieces from (source, start, length) rows."""
    names = tuple(dict.fromkeys(r[0] for r in rows))
    cols = [np.array([r[k] for r in rows], np.int64) for k in (1, 2)]
    return Pieces(names, np.array([names.index(r[0]) for r in rows], np.uint8), *cols)


def test_sample_source_hits_budget_exactly_and_skips_heldout():
    lengths = np.array([100, 50, 300, 70, 10])
    offsets = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    eligible = np.array([True, True, True, False, True])
    s = sample_source(offsets, lengths, eligible, 400, 64, np.random.default_rng(0))
    assert s.lengths.sum() == 400 and s.lengths.max() <= 64
    heldout = (offsets[3], offsets[3] + lengths[3])
    assert not any(heldout[0] <= st < heldout[1] for st in s.starts)
    big = sample_source(offsets, lengths, eligible, 1000, 64, np.random.default_rng(0))
    assert big.lengths.sum() == 1000 and big.repeats == pytest.approx(1000 / 460 - 1)


def test_every_piece_starts_at_position_zero():
    """Pieces of long documents restart their positions: none reaches the context (GPT-2's n_positions)."""
    lengths = np.array([1000, 700])
    s = sample_source(np.array([0, 1000]), lengths, np.ones(2, bool), 5000, 256, np.random.default_rng(0))
    assert s.lengths.max() <= 256
    segments, _ = pack(Pieces(("d",), np.zeros(len(s.starts), np.uint8), s.starts, s.lengths), seq_len=256)
    ends = segments.table().column("pos0").to_numpy() + segments.table().column("length").to_numpy()
    assert ends.max() <= 256


def test_whole_rows_are_never_cut():
    lengths = np.array([7, 9, 5, 11])
    offsets = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    s = sample_source(offsets, lengths, np.ones(4, bool), 50, 64, np.random.default_rng(1), whole_rows=True)
    assert set(zip(s.starts.tolist(), s.lengths.tolist())) <= set(zip(offsets.tolist(), lengths.tolist()))
    assert 50 <= s.lengths.sum() < 50 + lengths.max()


def test_pack_splits_documents_but_moves_a_pair_that_does_not_fit_to_the_next_block():
    segments, padding = pack(pieces(("a", 0, 5), ("b", 100, 6)), seq_len=4)
    rows = [(r["block"], r["source"], r["start"], r["length"], r["pos0"]) for r in segments.table().to_pylist()]
    assert rows == [(0, "a", 0, 4, 0), (1, "a", 4, 1, 4), (1, "b", 100, 3, 0), (2, "b", 103, 3, 3)]
    assert padding == 1
    segments, padding = pack(pieces(("a", 0, 5), ("q", 100, 3), ("q", 200, 2)), seq_len=4, whole=frozenset({"q"}))
    rows = [(r["block"], r["source"], r["start"], r["length"]) for r in segments.table().to_pylist()]
    assert rows == [(0, "a", 0, 4), (1, "a", 4, 1), (1, "q", 100, 3), (2, "q", 200, 2)]
    assert padding == 2


def test_pack_rows_puts_one_pair_per_block():
    segments, seq_len, padding = pack_rows(pieces(("qa", 0, 13), ("qa", 13, 20), ("qa", 33, 9)))
    assert segments.table().column("block").to_pylist() == [0, 1, 2] and seq_len == 24
    assert padding == 3 * 24 - 42


def test_mix_shares_exact_and_deterministic(token_dir, tmp_path):
    mix = MixParams(replay=0.2, instruct=0.1, tokens=5000)
    spec = recipe_spec("pit")
    reports = []
    for run in ("a", "b"):
        (tmp_path / run).mkdir()
        reports.append(build_mix(token_dir, tmp_path / run, mix=mix, recipe="pit", spec=spec, seq_len=64, seed=3))
    docs = reports[0]["phases"][1]
    assert docs["name"] == "docs_qa"
    for src in ("domain", "qa", "replay", "instruct"):  # the requested shares, as the phase's report says
        assert abs(docs["sources"][src]["share"] - docs["shares"][src]) < 0.005
    assert (tmp_path / "a/0-qa.parquet").read_bytes() == (tmp_path / "b/0-qa.parquet").read_bytes()
    other = tmp_path / "c"
    other.mkdir()
    build_mix(token_dir, other, mix=mix, recipe="pit", spec=spec, seq_len=64, seed=4)
    assert (tmp_path / "a/1-docs_qa.parquet").read_bytes() != (other / "1-docs_qa.parquet").read_bytes()


def test_blocks_mask_prompts_reset_positions_and_never_use_heldout(token_dir, tmp_path):
    spec = recipe_spec("pit")
    spec.phases["qa"] = PhaseParams(qa=1, replay=0, instruct=0)  # QA alone: every block's mask is the QA shard's
    build_mix(token_dir, tmp_path, mix=MixParams(tokens=3000), recipe="pit", spec=spec, seq_len=64, seed=0)
    tok = tiny_tokenizer()
    qa_len = json.loads((tmp_path / "phases.json").read_text())["phases"][0]["seq_len"]
    qa_blocks = MixBlocks(tmp_path / "0-qa.parquet", token_dir, qa_len, tok.pad_token_id)
    assert qa_len < 64 and (qa_blocks.bounds[1:] - qa_blocks.bounds[:-1] == 1).all()  # one pair per block
    qa = TokenSource(token_dir / "qa")
    rows = qa.row_arrays()
    heldout_ranges = [(o, o + n) for o, n, s in zip(rows["offset"], rows["length"], rows["split"]) if s == "heldout"]
    prompt_len = len(tok("Question: What is item 1?\nAnswer:", add_special_tokens=False)["input_ids"])
    first = rows["offset"][1]
    assert (
        qa.mask[first : first + prompt_len].sum() == 0 and qa.mask[first + prompt_len : first + rows["length"][1]].all()
    )
    for i in range(len(qa_blocks)):
        ids, labels, pos, names = qa_blocks.arrays(i)
        assert set(names) == {"qa"}
        at = 0
        for j in range(qa_blocks.bounds[i], qa_blocks.bounds[i + 1]):
            st, n = qa_blocks.start[j], qa_blocks.length[j]
            # loss exactly where the shard's mask says: answers yes, "Question: ... Answer:" no
            assert ((labels[at : at + n] != -100) == (qa.mask[st : st + n] > 0)).all()
            assert pos[at] == qa_blocks.pos0[j] and (np.diff(pos[at : at + n]) == 1).all()
            at += n
        assert (labels[at:] == -100).all()
    idx = qa_blocks
    for st in idx.start:
        assert not any(a <= st < b for a, b in heldout_ranges)


def test_replay_in_a_qa_phase_fills_one_block_of_the_pairs_length(token_dir, tmp_path):
    """QA-only phases carry replay by default: replay pieces cut to the pairs' block length, one piece
    per block, so blocks stay short and replay is trained on every token."""
    spec = recipe_spec("pit")
    spec.phases["qa"] = PhaseParams(qa=1, replay=0.2, instruct=0)
    report = build_mix(token_dir, tmp_path, mix=MixParams(tokens=3000), recipe="pit", spec=spec, seq_len=64, seed=0)
    qa = report["phases"][0]
    assert qa["packing"] == "one piece per block" and set(qa["sources"]) == {"qa", "replay"}
    assert abs(qa["sources"]["replay"]["share"] - 0.2) < 0.02
    blocks = MixBlocks(tmp_path / "0-qa.parquet", token_dir, qa["seq_len"], 0)
    assert (blocks.bounds[1:] - blocks.bounds[:-1] == 1).all() and qa["seq_len"] < 64
    replay = blocks.source == "replay"
    pair_len = int(blocks.length[~replay].max())
    assert qa["seq_len"] == -(-pair_len // 8) * 8 and blocks.length[replay].max() == qa["seq_len"]
    _, labels, _, _ = blocks.arrays(int(np.flatnonzero(replay)[0]))
    assert (labels != -100).all()  # general text carries loss on every token


def test_pack_pairs_fills_seq_len_blocks_with_whole_pairs_that_see_only_themselves(token_dir, tmp_path):
    """mix.pack_pairs: a QA-only phase packs many whole pairs into each seq_len block; the block-causal
    mask keeps every pair's attention inside the pair, so its answer is conditioned on its question alone."""
    spec = recipe_spec("pit")
    spec.phases["qa"] = PhaseParams(qa=1, replay=0.2, instruct=0)
    kw = dict(recipe="pit", spec=spec, seq_len=256, seed=0)
    for d in ("rows", "packed"):
        (tmp_path / d).mkdir()
    rows = build_mix(token_dir, tmp_path / "rows", mix=MixParams(tokens=3000), **kw)["phases"][0]
    packed = build_mix(token_dir, tmp_path / "packed", mix=MixParams(tokens=3000, pack_pairs=True), **kw)["phases"][0]
    assert packed["packing"] == "packed" and packed["seq_len"] == 256 and packed["doc_attention_mask"]
    assert packed["sources"]["qa"]["used"] == rows["sources"]["qa"]["used"]  # the same pairs ...
    assert packed["blocks"] * 3 < rows["blocks"]  # ... in a third of the sequences or fewer
    blocks = MixBlocks(tmp_path / "packed" / "0-qa.parquet", token_dir, 256, 0)
    pairs = blocks.source != "replay"
    assert (blocks.pos0[pairs] == 0).all()  # no pair is split across two blocks
    item = blocks[int(np.argmax(np.diff(blocks.bounds)))]  # the block with the most pieces
    mask, pos = item["attention_mask"][0], item["position_ids"]
    starts = np.flatnonzero(pos.numpy() == 0)
    assert len(starts) >= 3
    second = int(starts[1])
    assert not mask[second:, :second].any() and mask[second, second]  # the second piece never sees the first


def test_mix_qa_puts_train_qa_into_the_documents_phase(token_dir, tmp_path):
    """pit / mixed: QA of training docs inside the documents phase, as its own one-pair-per-block stream
    interleaved with the document blocks; held-out QA never."""
    mix = MixParams(replay=0.2, instruct=0.1, tokens=5000)
    spec = recipe_spec("pit")
    spec.phases["docs_qa"] = PhaseParams(domain=0.9, qa=0.1)
    report = build_mix(token_dir, tmp_path, mix=mix, recipe="pit", spec=spec, seq_len=64, seed=0)
    docs = report["phases"][1]
    assert abs(docs["sources"]["qa"]["share"] - 0.07) < 0.01 and docs["interleaved_qa"]["blocks"] > 0
    entry = json.loads((tmp_path / "phases.json").read_text())["phases"][1]
    blocks = MixBlocks(tmp_path / entry["file"], token_dir, 64, tiny_tokenizer().pad_token_id)
    assert "qa" not in set(blocks.source.tolist())
    qa = MixBlocks(tmp_path / entry["interleave"]["file"], token_dir, entry["interleave"]["seq_len"], 0)
    assert (qa.bounds[1:] - qa.bounds[:-1] == 1).all()  # one pair per block
    rows = TokenSource(token_dir / "qa").row_arrays()
    whole = {(o, n) for o, n in zip(rows["offset"], rows["length"])}
    heldout = [(o, o + n) for o, n, s in zip(rows["offset"], rows["length"], rows["split"]) if s == "heldout"]
    assert set(zip(qa.start.tolist(), qa.length.tolist())) <= whole  # never cut
    assert not any(lo <= st < hi for st in qa.start for lo, hi in heldout)
    assert "qa" not in plan_phase("docs", PhaseParams(domain=1), mix, {"domain": 900}).budgets


def test_a_domain_document_that_fits_a_block_is_never_split_across_two():
    """A document cut at a block end would train its second half's facts without the entity's name."""
    lengths = {"domain": np.array([300, 180, 250, 90]), "replay": np.array([2000])}
    sources = {
        name: {
            "offset": np.concatenate([[0], np.cumsum(ln)[:-1]]),
            "length": ln,
            "split": np.array(["train"] * len(ln)),
        }
        for name, ln in lengths.items()
    }
    segments, report = build_phase(sources, {"domain": 2000, "replay": 600}, 512, np.random.default_rng(3))
    rows = segments.table().to_pylist()
    domain = [r for r in rows if r["source"] == "domain"]
    assert {r["length"] for r in domain} <= {300, 180, 250, 90}  # whole documents only
    assert all(r["pos0"] == 0 for r in domain)
    assert any(r["source"] == "replay" and r["pos0"] > 0 for r in rows)  # replay text still splits
    assert report["padding_tokens"] > 0

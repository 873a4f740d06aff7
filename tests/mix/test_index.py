import numpy as np
import pytest

from cptpipe.data.tokens import TokenSource
from cptpipe.mix.build import MixBlocks, build_mix
from cptpipe.mix.index import pack, sample_source
from cptpipe.mix.recipes import phase_budgets
from cptpipe.params import MixParams
from tests.helpers import tiny_tokenizer


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


def test_pack_splits_pieces_at_block_ends_and_continues_positions():
    table, padding = pack([("a", 0, 5, 0), ("b", 100, 6, 3)], seq_len=4)
    rows = table.to_pylist()
    assert [(r["block"], r["source"], r["start"], r["length"], r["pos0"]) for r in rows] == [
        (0, "a", 0, 4, 0), (1, "a", 4, 1, 4), (1, "b", 100, 3, 3), (2, "b", 103, 3, 6)]
    assert padding == 1


def test_phase_budgets_follow_recipes():
    mix = MixParams(tokens=1000, qa_epochs=2.0)
    assert [p for p, _ in phase_budgets("pit", mix, 300)] == ["qa", "docs"]
    assert [p for p, _ in phase_budgets("it_after_cpt", mix, 300)] == ["docs", "qa"]
    assert [p for p, _ in phase_budgets("pit_final_it", mix, 300)] == ["qa", "docs", "final_it"]
    docs = dict(phase_budgets("cpt", mix, 300))["docs"]
    assert docs == {"domain": 920, "replay": 60, "instruct": 20}
    assert dict(phase_budgets("pit", mix, 300))["qa"] == {"qa": 600}


def test_mix_shares_exact_and_deterministic(token_dir, tmp_path):
    mix = MixParams(domain=0.7, replay=0.2, instruct=0.1, tokens=5000)
    reports = []
    for run in ("a", "b"):
        (tmp_path / run).mkdir()
        reports.append(build_mix(token_dir, tmp_path / run, mix=mix, recipe="pit", seq_len=64, seed=3))
    docs = reports[0]["phases"][1]
    assert docs["name"] == "docs"
    for src, want in (("domain", 0.7), ("replay", 0.2), ("instruct", 0.1)):
        assert abs(docs["sources"][src]["share"] - want) < 0.005
    assert (tmp_path / "a/0-qa.parquet").read_bytes() == (tmp_path / "b/0-qa.parquet").read_bytes()
    other = tmp_path / "c"
    other.mkdir()
    build_mix(token_dir, other, mix=mix, recipe="pit", seq_len=64, seed=4)
    assert (tmp_path / "a/1-docs.parquet").read_bytes() != (other / "1-docs.parquet").read_bytes()


def test_blocks_mask_prompts_reset_positions_and_never_use_heldout(token_dir, tmp_path):
    build_mix(token_dir, tmp_path, mix=MixParams(tokens=3000), recipe="pit", seq_len=64, seed=0)
    tok = tiny_tokenizer()
    qa_blocks = MixBlocks(tmp_path / "0-qa.parquet", token_dir, 64, tok.pad_token_id)
    qa = TokenSource(token_dir / "qa")
    rows = qa.row_arrays()
    heldout_ranges = [(o, o + n) for o, n, s in zip(rows["offset"], rows["length"], rows["split"]) if s == "heldout"]
    prompt_len = len(tok("Question: What is item 1?\nAnswer:", add_special_tokens=False)["input_ids"])
    first = rows["offset"][1]
    assert qa.mask[first:first + prompt_len].sum() == 0 and qa.mask[first + prompt_len:first + rows["length"][1]].all()
    for i in range(len(qa_blocks)):
        ids, labels, pos, names = qa_blocks.arrays(i)
        assert set(names) == {"qa"}
        at = 0
        for j in range(qa_blocks.bounds[i], qa_blocks.bounds[i + 1]):
            st, n = qa_blocks.start[j], qa_blocks.length[j]
            # loss exactly where the shard's mask says: answers yes, "Question: ... Answer:" no
            assert ((labels[at:at + n] != -100) == (qa.mask[st:st + n] > 0)).all()
            assert pos[at] == qa_blocks.pos0[j] and (np.diff(pos[at:at + n]) == 1).all()
            at += n
        assert (labels[at:] == -100).all()
    idx = qa_blocks
    for st, n in zip(idx.start, idx.length):
        assert not any(a <= st < b for a, b in heldout_ranges)


def test_mix_qa_puts_train_qa_into_the_documents_phase(token_dir, tmp_path):
    """mix.qa: PIT++ / "mixed" training — QA of training docs inside the documents phase, held-out never."""
    mix = MixParams(domain=0.6, replay=0.2, instruct=0.1, qa=0.1, tokens=5000)
    report = build_mix(token_dir, tmp_path, mix=mix, recipe="pit", seq_len=64, seed=0)
    docs = report["phases"][1]
    assert abs(docs["sources"]["qa"]["share"] - 0.1) < 0.005
    blocks = MixBlocks(tmp_path / "1-docs.parquet", token_dir, 64, tiny_tokenizer().pad_token_id)
    rows = TokenSource(token_dir / "qa").row_arrays()
    heldout = [(o, o + n) for o, n, s in zip(rows["offset"], rows["length"], rows["split"]) if s == "heldout"]
    qa_starts = blocks.start[blocks.source == "qa"]
    assert len(qa_starts) > 0
    assert not any(lo <= st < hi for st in qa_starts for lo, hi in heldout)
    assert dict(phase_budgets("cpt", MixParams(tokens=1000), 300))["docs"].get("qa") is None  # default 0: none

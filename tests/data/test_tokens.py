"""Token shards: streaming writer, fast encoding, loss masks, replay sources (folder and hf: spec)."""

import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from cptpipe.data.encode import tokenize_source
from cptpipe.data.sources import HELDOUT_SHARE, parse_hf_spec
from cptpipe.data.tokens import ShardWriter, TokenSource, encode_documents, encode_texts, token_dtype, write_token_shard
from cptpipe.errors import UserError
from cptpipe.prompts import format_prompt
from tests.helpers import replay_texts, tiny_tokenizer


def test_fast_encoding_matches_tokenizer_call():
    tok = tiny_tokenizer()
    texts = replay_texts(40)
    assert encode_texts(tok, texts) == tok(texts, add_special_tokens=False)["input_ids"]


def test_streamed_shard_is_a_plain_npy_and_matches_row_offsets(tmp_path):
    tok = tiny_tokenizer()
    texts = replay_texts(25)
    meta = write_token_shard(
        tmp_path,
        "replay",
        encode_documents(tok, texts),
        [{"split": "heldout" if i % 5 == 0 else "train", "doc_id": str(i)} for i in range(25)],
        len(tok),
    )
    src = TokenSource(tmp_path)
    full = np.load(tmp_path / "tokens.npy")  # a regular .npy, not only a memory map
    assert full.dtype == np.uint16 and len(full) == meta["tokens"] == sum(meta["tokens_by_split"].values())
    rows = src.row_arrays()
    for i in (0, 7, 24):
        o, n = rows["offset"][i], rows["length"][i]
        ids = tok(texts[i], add_special_tokens=False)["input_ids"] + [tok.eos_token_id]
        assert full[o : o + n].tolist() == ids
    assert token_dtype(70_000) == np.uint32
    (tmp_path / "empty").mkdir()
    assert (
        ShardWriter(tmp_path / "empty", "x", 70_000).close()["tokens"] == 0
        and np.load(tmp_path / "empty/tokens.npy").dtype == np.uint32
    )


@pytest.fixture()
def root(tmp_path):
    """A tiny project tree: data/qa, data/replay (shipped layout), data/instruct."""
    qa = tmp_path / "data/qa"
    qa.mkdir(parents=True)
    for split, n in (("train", 12), ("heldout", 4)):
        pq.write_table(
            pa.table(
                {
                    "question": [f"Who is person {i}?" for i in range(n)],
                    "answer": [f"Person {i} is a baker" for i in range(n)],
                    "doc_id": [f"{split}{i}" for i in range(n)],
                    "type": ["factual"] * n,
                }
            ),
            qa / f"{split}.parquet",
        )
    rep = tmp_path / "data/replay"
    rep.mkdir()
    texts = replay_texts(30)
    for split, part in (("train", texts[:24]), ("heldout", texts[24:])):
        (rep / f"{split}.jsonl").write_text(
            "".join(json.dumps({"id": f"{split}{i}", "text": t}) + "\n" for i, t in enumerate(part))
        )
    return tmp_path


def test_qa_prompt_tokens_carry_no_loss_and_batching_does_not_change_the_shard(root, tmp_path):
    tok = tiny_tokenizer()
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    meta = tokenize_source("qa", tok, root / "data/qa", tmp_path / "a")
    tokenize_source("qa", tok, root / "data/qa", tmp_path / "b", batch_rows=5)
    for f in ("tokens.npy", "mask.npy"):
        assert (tmp_path / f"a/{f}").read_bytes() == (tmp_path / f"b/{f}").read_bytes()
    assert pq.read_table(tmp_path / "a/rows.parquet").equals(pq.read_table(tmp_path / "b/rows.parquet"))
    assert meta["tokens_by_split"].keys() == {"train", "heldout"}
    src = TokenSource(tmp_path / "a")
    rows = src.row_arrays()
    for i in range(meta["rows"]):
        o, n = rows["offset"][i], rows["length"][i]
        prompt = format_prompt(f"Who is person {i % 12 if i < 12 else i - 12}?")
        p = len(tok(prompt, add_special_tokens=False)["input_ids"])
        assert src.mask[o : o + p].sum() == 0, "prompt tokens must not carry loss"
        assert src.mask[o + p : o + n].all() and src.tokens[o + n - 1] == tok.eos_token_id


def test_a_replay_folder_laid_out_as_shipped_keeps_its_split_files(root, tmp_path):
    meta = tokenize_source("replay", tiny_tokenizer(), root / "data/replay", tmp_path)
    rows = TokenSource(tmp_path).row_arrays()
    assert meta["rows"] == 30 and (rows["split"] == "heldout").sum() == 6
    assert rows["doc_id"][0] == "train0" and meta["replay_source"] == str(root / "data/replay")


def test_replay_from_a_folder_of_txt_jsonl_parquet(root, tmp_path):
    texts = replay_texts(60)
    other = root / "general"
    other.mkdir()
    (other / "a.txt").write_text(texts[0])
    (other / "b.jsonl").write_text("".join(json.dumps({"text": t}) + "\n" for t in texts[1:30]))
    pq.write_table(pa.table({"text": texts[30:]}), other / "c.parquet")
    meta = tokenize_source("replay", tiny_tokenizer(), other, tmp_path)
    assert meta["rows"] == 60 and set(meta["tokens_by_split"]) <= {"train", "heldout"}


def test_replay_hf_spec_streams_a_local_dataset_dir_and_takes_only_what_is_needed(root, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    texts = replay_texts(400)
    ds = tmp_path / "hub_like"
    ds.mkdir()
    for k in range(4):  # a dataset repo as the hub serves it: parquet files, one split
        pq.write_table(pa.table({"text": texts[k::4]}), ds / f"part-{k}.parquet")
    out = tmp_path / "out"
    out.mkdir()
    take = 20_000
    meta = tokenize_source("replay", tiny_tokenizer(), f"hf:{ds}@train", out, batch_rows=16, replay_take=take)
    by = meta["tokens_by_split"]
    total_available = sum(len(t) for t in texts) // 3  # far more than taken (~3 chars per token)
    assert take <= by["train"] + by["heldout"] < take + 2000 < total_available
    assert by["heldout"] >= round(take * HELDOUT_SHARE) and meta["rows"] < 400
    assert parse_hf_spec("hf:wikitext:wikitext-2-raw-v1@train") == ("wikitext", "wikitext-2-raw-v1", "train")
    assert parse_hf_spec("hf:org/name@validation") == ("org/name", None, "validation")
    with pytest.raises(UserError):
        parse_hf_spec("hf:no_split")


def test_encoding_ignores_padding_and_truncation_left_on_the_shared_tokenizer():
    tok = tiny_tokenizer()
    texts = ["Who?", "a much longer line of general text than the first one"]
    clean = encode_texts(tok, texts)
    tok(texts, padding=True, truncation=True, max_length=4)  # leaves both switched on in the Rust backend
    try:
        assert tok.backend_tokenizer.padding is not None
        assert encode_texts(tok, texts) == clean and len(clean[0]) != len(clean[1]) and len(clean[1]) > 4
        assert tok.backend_tokenizer.truncation["max_length"] == 4  # the caller's settings are restored
    finally:
        tok.backend_tokenizer.no_padding()
        tok.backend_tokenizer.no_truncation()

"""The tokenize stage: one text source -> one token shard (see cptpipe.data.tokens)."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq

from cptpipe.data.ingest import read_documents
from cptpipe.data.sources import SPLITS, read_instruct, read_replay
from cptpipe.data.tokens import batched, encode_documents, encode_pairs, write_token_shard
from cptpipe.errors import UserError
from cptpipe.prompts import format_answer, format_prompt

SOURCES = ("domain", "qa", "replay", "instruct")
BATCH = 512


def source_rows(source: str, root: Path) -> list[dict]:
    """Rows of one source as {kind: doc|pair, text | prompt+answer, split, doc_id}."""
    if source == "domain":
        docs = read_documents(root / "data/shards", columns=["doc_id", "text", "split"]).to_pylist()
        return [{"text": d["text"], "split": d["split"], "doc_id": d["doc_id"], "kind": "doc"} for d in docs]
    if source == "qa":
        rows = []
        for split in SPLITS:
            for r in pq.read_table(root / f"data/qa/{split}.parquet").to_pylist():
                rows.append({"question": r["question"], "answer": r["answer"], "split": split,
                             "doc_id": r["doc_id"], "kind": r["type"]})
        return rows
    if source == "replay":
        return [{"text": r["text"], "split": s, "doc_id": r["id"], "kind": "doc"}
                for s in SPLITS for r in read_replay(root / "data/replay", s)]
    if source == "instruct":
        return [{"question": r["instruction"], "answer": r["response"], "split": s, "doc_id": r["id"],
                 "kind": "instruction"} for s in SPLITS for r in read_instruct(root / "data/instruct", s)]
    raise UserError(f"tokenize: unknown source {source!r}; use one of {', '.join(SOURCES)}")


def tokenize_source(source: str, tokenizer, root: Path, out_dir: Path) -> dict:
    rows = source_rows(source, root)
    encoded = []
    for chunk in batched(rows, BATCH, desc=f"tokenize@{source}"):
        if "text" in chunk[0]:
            encoded.extend(encode_documents(tokenizer, [r["text"] for r in chunk]))
        else:
            encoded.extend(encode_pairs(tokenizer, [format_prompt(r["question"], tokenizer) for r in chunk],
                                        [format_answer(r["answer"], tokenizer) for r in chunk]))
    return write_token_shard(out_dir, source, encoded, rows, len(tokenizer))

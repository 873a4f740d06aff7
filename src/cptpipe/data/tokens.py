"""Token shards: one per text source, written once, read by the mix index via memory maps.

Layout of data/tokens/<source>/:
  tokens.npy  flat token ids (uint16 when the vocab fits, else uint32); every row ends with EOS
  mask.npy    flat uint8 loss mask (1 = train on this token)
  rows.parquet  one row per example: row, offset, length, split, doc_id, kind
  meta.json   source, dtype, vocab size, counts
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from cptpipe.progress import bar

ROW_SCHEMA = pa.schema([
    ("row", pa.int64()), ("offset", pa.int64()), ("length", pa.int64()),
    ("split", pa.string()), ("doc_id", pa.string()), ("kind", pa.string()),
])


def token_dtype(vocab_size: int) -> np.dtype:
    return np.dtype(np.uint16) if vocab_size <= np.iinfo(np.uint16).max + 1 else np.dtype(np.uint32)


def encode_documents(tokenizer, texts: Sequence[str]) -> list[tuple[list[int], list[int]]]:
    """Documents: every token carries loss; EOS closes each document."""
    enc = tokenizer(list(texts), add_special_tokens=False)["input_ids"]
    eos = tokenizer.eos_token_id
    return [(ids + [eos], [1] * (len(ids) + 1)) for ids in enc]


def encode_pairs(tokenizer, prompts: Sequence[str], answers: Sequence[str]) -> list[tuple[list[int], list[int]]]:
    """Prompt/answer rows: loss on the answer tokens (and the closing EOS) only."""
    p_ids = tokenizer(list(prompts), add_special_tokens=False)["input_ids"]
    a_ids = tokenizer(list(answers), add_special_tokens=False)["input_ids"]
    eos = tokenizer.eos_token_id
    return [(p + a + [eos], [0] * len(p) + [1] * (len(a) + 1)) for p, a in zip(p_ids, a_ids)]


def write_token_shard(
    out_dir: Path,
    source: str,
    encoded: Iterable[tuple[list[int], list[int]]],
    rows_meta: Sequence[dict],
    vocab_size: int,
) -> dict:
    """Write tokens/mask/rows/meta for one source; returns meta."""
    dtype = token_dtype(vocab_size)
    ids_parts, mask_parts, rows = [], [], []
    offset = 0
    for i, ((ids, mask), meta) in enumerate(zip(encoded, rows_meta)):
        ids_parts.append(np.asarray(ids, dtype=dtype))
        mask_parts.append(np.asarray(mask, dtype=np.uint8))
        rows.append({"row": i, "offset": offset, "length": len(ids), "split": meta.get("split", "train"),
                     "doc_id": meta.get("doc_id", ""), "kind": meta.get("kind", source)})
        offset += len(ids)
    tokens = np.concatenate(ids_parts) if ids_parts else np.zeros(0, dtype=dtype)
    mask = np.concatenate(mask_parts) if mask_parts else np.zeros(0, dtype=np.uint8)
    np.save(out_dir / "tokens.npy", tokens)
    np.save(out_dir / "mask.npy", mask)
    pq.write_table(pa.Table.from_pylist(rows, schema=ROW_SCHEMA), out_dir / "rows.parquet")
    splits: dict[str, int] = {}
    for r in rows:
        splits[r["split"]] = splits.get(r["split"], 0) + r["length"]
    meta = {"source": source, "dtype": dtype.name, "vocab_size": vocab_size, "rows": len(rows),
            "tokens": int(len(tokens)), "loss_tokens": int(mask.sum()), "tokens_by_split": splits}
    (out_dir / "meta.json").write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")
    return meta


class TokenSource:
    """Memory-mapped view of one data/tokens/<source> folder."""

    def __init__(self, path: str | Path):
        path = Path(path)
        self.path = path
        self.meta = json.loads((path / "meta.json").read_text())
        self.tokens = np.load(path / "tokens.npy", mmap_mode="r")
        self.mask = np.load(path / "mask.npy", mmap_mode="r")
        self.rows = pq.read_table(path / "rows.parquet")

    def row_arrays(self) -> dict[str, np.ndarray]:
        return {c: self.rows.column(c).to_numpy(zero_copy_only=False) for c in self.rows.column_names}


def batched(items: Sequence, size: int, desc: str):
    for i in bar(range(0, len(items), size), desc=desc, unit="batch"):
        yield items[i:i + size]

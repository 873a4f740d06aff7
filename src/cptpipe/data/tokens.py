"""Token shards: one per text source, written once, read by the mix index via memory maps.

Layout of data/tokens/<source>/:
  tokens.npy  flat token ids (uint16 when the vocab fits, else uint32); every row ends with EOS
  mask.npy    flat uint8 loss mask (1 = train on this token)
  rows.parquet  one row per example: row, offset, length, split, doc_id, kind
  meta.json   source, dtype, vocab size, counts

`ShardWriter` streams: each batch of rows is appended to the .npy files and the Parquet file as
it comes, so memory is bounded by one batch whatever the size of the source.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterable, Sequence
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from cptpipe.progress import bar
from cptpipe.prompts import end_of_turn_id

ROW_SCHEMA = pa.schema(
    [(name, pa.int64()) for name in ("row", "offset", "length")]
    + [(name, pa.string()) for name in ("split", "doc_id", "kind")]
)
_NPY_HEADER = 128  # bytes; room for any 1-D shape, rewritten in place once the length is known


def token_dtype(vocab_size: int) -> np.dtype:
    return np.dtype(np.uint16) if vocab_size <= np.iinfo(np.uint16).max + 1 else np.dtype(np.uint32)


def encode_texts(tokenizer, texts: Sequence[str]) -> list[list[int]]:
    """Token ids of texts without special tokens; the Rust batch path when the tokenizer has one.

    `encode_batch_fast` skips offsets and Python-side BatchEncoding building (~1.4x faster than
    `tokenizer(texts)`), and runs on all cores when TOKENIZERS_PARALLELISM allows.
    """
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is not None and hasattr(backend, "encode_batch_fast"):
        with _unpadded(backend):
            return [e.ids for e in backend.encode_batch_fast(list(texts), add_special_tokens=False)]
    return tokenizer(list(texts), add_special_tokens=False)["input_ids"]


@contextmanager
def _unpadded(backend):
    """The Rust tokenizer without padding or truncation for the duration.

    A call such as `tokenizer(x, padding=True, truncation=True)` (or a padding collator) leaves them
    switched on in the shared backend, and the fast path would then pad every row to the batch's
    longest and shift every loss mask.
    """
    padding, truncation = backend.padding, backend.truncation
    backend.no_padding()
    backend.no_truncation()
    try:
        yield
    finally:
        if padding is not None:
            backend.enable_padding(**padding)
        if truncation is not None:
            backend.enable_truncation(**truncation)


def encode_documents(tokenizer, texts: Sequence[str]) -> list[tuple[list[int], list[int]]]:
    """Documents: every token carries loss; EOS closes each document."""
    eos = tokenizer.eos_token_id
    return [(ids + [eos], [1] * (len(ids) + 1)) for ids in encode_texts(tokenizer, texts)]


def split_pairs(tokenizer, prompts: Sequence[str], answers: Sequence[str]) -> tuple[list[list[int]], list[list[int]]]:
    """(prompt ids, answer ids) of pairs tokenized the way lm-eval scores them.

    The text `prompt + answer` is encoded as one string and split at the prompt's own token count,
    as lm-eval's `_encode_pair` does. Encoding the answer alone would let the tokenizer add its own
    word-boundary piece after the prompt's (`Answer:` + `▁▁Brerovo`), a sequence neither the
    documents nor the evaluation contain. `answers` are continuations as `format_answer` writes them.
    """
    whole = encode_texts(tokenizer, [p + a for p, a in zip(prompts, answers)])
    p_ids = encode_texts(tokenizer, prompts)
    return p_ids, [w[len(p) :] for w, p in zip(whole, p_ids)]


def encode_pairs(tokenizer, prompts: Sequence[str], answers: Sequence[str]) -> list[tuple[list[int], list[int]]]:
    """Prompt/answer rows: loss on the answer tokens and the closing token (EOS, or a chat template's
    end of turn: see end_of_turn_id) only."""
    p_ids, a_ids = split_pairs(tokenizer, prompts, answers)
    end = end_of_turn_id(tokenizer)
    return [(p + a + [end], [0] * len(p) + [1] * (len(a) + 1)) for p, a in zip(p_ids, a_ids)]


def flat_documents(ids: list[list[int]], eos: int, dtype: np.dtype) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(tokens, mask, lengths) of documents as flat arrays, EOS after each; no per-token Python lists."""
    lengths = np.fromiter(map(len, ids), np.int64, len(ids)) + 1
    eos_list = [[eos]] * len(ids)
    flat = np.fromiter(
        itertools.chain.from_iterable(itertools.chain.from_iterable(zip(ids, eos_list))), dtype, int(lengths.sum())
    )
    return flat, np.ones(len(flat), np.uint8), lengths


def flat_pairs(
    p_ids: list[list[int]], a_ids: list[list[int]], eos: int, dtype: np.dtype
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(tokens, mask, lengths) of prompt+answer+`eos` rows; mask 0 on prompts, 1 on answer and `eos`
    (the closing token: EOS, or a chat template's end of turn)."""
    p_len = np.fromiter(map(len, p_ids), np.int64, len(p_ids))
    a_len = np.fromiter(map(len, a_ids), np.int64, len(a_ids)) + 1
    lengths = p_len + a_len
    eos_list = [[eos]] * len(p_ids)
    flat = np.fromiter(
        itertools.chain.from_iterable(itertools.chain.from_iterable(zip(p_ids, a_ids, eos_list))),
        dtype,
        int(lengths.sum()),
    )
    mask = np.repeat(np.tile(np.array([0, 1], np.uint8), len(lengths)), np.stack([p_len, a_len], 1).ravel())
    return flat, mask, lengths


class NpyAppender:
    """A 1-D .npy file written by appending chunks; the header gets its final length on close."""

    def __init__(self, path: Path, dtype: np.dtype):
        self.path, self.dtype, self.n = Path(path), np.dtype(dtype), 0
        self.f = open(self.path, "wb")  # noqa: SIM115 - appended to across calls, closed by close()
        self.f.write(self._header(0))

    def _header(self, n: int) -> bytes:
        text = repr({"descr": self.dtype.str, "fortran_order": False, "shape": (n,)})
        body_len = _NPY_HEADER - 10  # magic (6) + version (2) + header length (2)
        return b"\x93NUMPY\x01\x00" + body_len.to_bytes(2, "little") + text.ljust(body_len - 1).encode() + b"\n"

    def append(self, arr: np.ndarray) -> None:
        self.f.write(np.ascontiguousarray(arr, self.dtype).tobytes())
        self.n += len(arr)

    def close(self) -> None:
        self.f.seek(0)
        self.f.write(self._header(self.n))
        self.f.close()


class ShardWriter:
    """Stream one source's rows into out_dir (tokens.npy, mask.npy, rows.parquet, meta.json)."""

    def __init__(self, out_dir: Path, source: str, vocab_size: int):
        out_dir = Path(out_dir)
        self.source, self.vocab_size, self.dtype = source, vocab_size, token_dtype(vocab_size)
        self.tokens = NpyAppender(out_dir / "tokens.npy", self.dtype)
        self.mask = NpyAppender(out_dir / "mask.npy", np.uint8)
        self.rows = pq.ParquetWriter(out_dir / "rows.parquet", ROW_SCHEMA)
        self.out_dir, self.n_rows, self.loss_tokens = out_dir, 0, 0
        self.by_split: dict[str, int] = {}

    def add(self, tokens: np.ndarray, mask: np.ndarray, lengths: np.ndarray, metas: Sequence[dict]) -> None:
        """Append rows given as flat tokens/mask and per-row lengths, with one meta dict per row."""
        if len(lengths) == 0:
            return
        offsets = self.tokens.n + np.concatenate([[0], np.cumsum(lengths)[:-1]])
        splits = [m.get("split", "train") for m in metas]
        self.rows.write_table(
            pa.table(
                {
                    "row": np.arange(self.n_rows, self.n_rows + len(lengths), dtype=np.int64),
                    "offset": offsets,
                    "length": np.asarray(lengths, np.int64),
                    "split": splits,
                    "doc_id": [str(m.get("doc_id", "")) for m in metas],
                    "kind": [m.get("kind", self.source) for m in metas],
                },
                schema=ROW_SCHEMA,
            )
        )
        for s, n in zip(splits, lengths.tolist()):
            self.by_split[s] = self.by_split.get(s, 0) + n
        self.tokens.append(tokens)
        self.mask.append(mask)
        self.n_rows += len(lengths)
        self.loss_tokens += int(mask.sum())

    def close(self, **extra) -> dict:
        self.tokens.close()
        self.mask.close()
        self.rows.close()
        meta = {
            "source": self.source,
            "dtype": self.dtype.name,
            "vocab_size": self.vocab_size,
            "rows": self.n_rows,
            "tokens": self.tokens.n,
            "loss_tokens": self.loss_tokens,
            "tokens_by_split": self.by_split,
            **extra,
        }
        (self.out_dir / "meta.json").write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")
        return meta


def write_token_shard(
    out_dir: Path,
    source: str,
    encoded: Iterable[tuple[list[int], list[int]]],
    rows_meta: Sequence[dict],
    vocab_size: int,
) -> dict:
    """Write tokens/mask/rows/meta for one source from (ids, mask) rows; returns meta."""
    w = ShardWriter(out_dir, source, vocab_size)
    pairs = list(zip(encoded, rows_meta))
    for i in range(0, len(pairs), 4096):
        chunk = pairs[i : i + 4096]
        ids = [np.asarray(e[0], w.dtype) for e, _ in chunk]
        masks = [np.asarray(e[1], np.uint8) for e, _ in chunk]
        w.add(
            np.concatenate(ids),
            np.concatenate(masks),
            np.fromiter(map(len, ids), np.int64, len(ids)),
            [m for _, m in chunk],
        )
    return w.close()


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
        yield items[i : i + size]


def pack_stream(token_lists: list[list[int]], eos_id: int, seq_len: int, n_tokens: int, seed: int) -> np.ndarray:
    """Blocks [n, seq_len] from documents joined by EOS, in a seeded order, repeated if too few."""
    rng = np.random.default_rng(seed)
    need = max(seq_len, n_tokens)
    out: list[np.ndarray] = []
    have = 0
    while have < need:
        for i in rng.permutation(len(token_lists)):
            arr = np.asarray(token_lists[i] + [eos_id], dtype=np.int64)
            out.append(arr)
            have += len(arr)
            if have >= need:
                break
    flat = np.concatenate(out)
    n_blocks = max(1, len(flat) // seq_len if n_tokens >= seq_len else 1)
    n_blocks = min(n_blocks, max(1, n_tokens // seq_len))
    return flat[: n_blocks * seq_len].reshape(n_blocks, seq_len)

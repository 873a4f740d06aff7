"""The tokenize stage: one text source -> one token shard (see cptpipe.data.tokens).

Rows stream from the source in batches of `batch_rows`; each batch is encoded by the tokenizer's
Rust batch path (parallel over cores) and appended to the shard, so memory stays bounded by one
batch however large the source is. Threads inside the Rust encoder beat a process pool over batches
here (2 cores, 8 MB of replay text: 2.0M tokens/s vs 1.5M for a 2-process pool, 1.0M single-threaded).
With ingest.engine: ray the batches run as tasks on the cluster instead (encoded_chunks).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pyarrow.parquet as pq

from cptpipe.data.sources import HELDOUT_SHARE, SPLITS, iter_replay, read_instruct
from cptpipe.data.tokens import ShardWriter, encode_texts, flat_documents, flat_pairs, split_pairs
from cptpipe.errors import UserError
from cptpipe.params import SOURCES, TokenizeParams
from cptpipe.progress import bar
from cptpipe.prompts import end_of_turn_id, format_answer, format_prompt

BATCH_ROWS = TokenizeParams().batch_rows  # tokenize.batch_rows's default: rows per tokenizer call and per read


def iter_rows(source: str, location: str | Path, batch_rows: int = BATCH_ROWS) -> Iterator[dict]:
    """Rows of one source as {kind, text | question+answer, split, doc_id}, streamed.

    location: the source's folder (ingest shards, QA parquet files, instruction jsonl files); for
    replay, mix.replay_source: a folder or hf:name[:config]@split. Parquet files are read batch_rows
    rows at a time (what is read, never which rows).
    """
    if source == "domain":
        files = sorted(Path(location).glob("shard-*.parquet"))
        if not files:
            raise UserError(f"{location}: no shards; run `dvc repro ingest`")
        for f in files:
            for batch in pq.ParquetFile(f).iter_batches(columns=["doc_id", "text", "split"], batch_size=batch_rows):
                for d in batch.to_pylist():
                    yield {"text": d["text"], "split": d["split"], "doc_id": d["doc_id"], "kind": "doc"}
    elif source == "qa":
        for split in SPLITS:
            for batch in pq.ParquetFile(Path(location) / f"{split}.parquet").iter_batches(batch_size=batch_rows):
                for r in batch.to_pylist():
                    yield {
                        "question": r["question"],
                        "answer": r["answer"],
                        "split": split,
                        "doc_id": r["doc_id"],
                        "kind": r["type"],
                    }
    elif source == "replay":
        yield from iter_replay(str(location))
    elif source == "instruct":
        for s in SPLITS:
            for r in read_instruct(location, s):
                yield {
                    "question": r["instruction"],
                    "answer": r["response"],
                    "split": s,
                    "doc_id": r["id"],
                    "kind": "instruction",
                }
    else:
        raise UserError(f"tokenize: unknown source {source!r}; use one of {', '.join(SOURCES)}")


def source_rows(source: str, location: str | Path) -> list[dict]:
    return list(iter_rows(source, location))


def _batches(rows: Iterator[dict], size: int) -> Iterator[list[dict]]:
    batch: list[dict] = []
    for r in rows:
        batch.append(r)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


class Take:
    """Keep whole rows until `total` tokens are taken: (1 - HELDOUT_SHARE) train, the rest held out."""

    def __init__(self, total: int):
        heldout = int(round(total * HELDOUT_SHARE))
        self.want = {"train": total - heldout, "heldout": heldout}
        self.have = {"train": 0, "heldout": 0}

    def keep(self, split: str, n: int) -> bool:
        if self.have.get(split, 0) >= self.want.get(split, 0):
            return False
        self.have[split] += n
        return True

    @property
    def done(self) -> bool:
        return all(self.have[s] >= self.want[s] for s in self.want)


class Encoding(NamedTuple):
    """What every batch of a source is encoded with (sent once per task batch to a Ray worker)."""

    tokenizer: Any
    eos: int
    end_of_turn: int  # closes QA/instruction answers: EOS, or the chat template's end of turn
    dtype: np.dtype


def encode_chunk(enc: Encoding, chunk: list[dict]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(tokens, mask, lengths) of one batch of rows: documents (`text`) or prompt/answer pairs."""
    tok = enc.tokenizer
    if "text" in chunk[0]:
        return flat_documents(encode_texts(tok, [r["text"] for r in chunk]), enc.eos, enc.dtype)
    p_ids, a_ids = split_pairs(
        tok, [format_prompt(r["question"], tok) for r in chunk], [format_answer(r["answer"], tok) for r in chunk]
    )
    return flat_pairs(p_ids, a_ids, enc.end_of_turn, enc.dtype)


def _encode_job(enc: Encoding, job: tuple[int, list[dict]]) -> tuple[int, tuple]:
    i, chunk = job
    return i, encode_chunk(enc, chunk)


def encoded_chunks(chunks: Iterator[list[dict]], enc: Encoding, engine=None) -> Iterator[tuple[list[dict], tuple]]:
    """(rows, arrays) per batch, in the source's order.

    Without an engine, in this process: the Rust encoder's own threads use every core, which beat a
    process pool here (see the module docstring). With one (ingest.engine: ray), windows of two
    batches per worker run as tasks and come back in order, so memory stays bounded by the window and
    the shard is byte-identical to the local one.
    """
    if engine is None:
        for chunk in chunks:
            yield chunk, encode_chunk(enc, chunk)
        return
    window = 2 * engine.workers
    numbered = enumerate(chunks)
    while jobs := list(itertools.islice(numbered, window)):
        done = dict(engine.map(_encode_job, enc, jobs))
        for i, chunk in jobs:
            yield chunk, done[i]


def tokenize_source(
    source: str,
    tokenizer,
    location: str | Path,
    out_dir: Path,
    *,
    batch_rows: int = BATCH_ROWS,
    replay_take: int | None = None,
    engine=None,
) -> dict:
    """Stream `source`'s rows from `location` (see iter_rows) into a token shard in out_dir; returns its meta.

    For the replay source, `replay_take` stops reading once that many tokens are taken (whole
    rows), which is how a huge streamed HF dataset yields only the tokens the mix needs. `engine`
    (cptpipe.data.engine, ingest.engine: ray) encodes the batches as distributed tasks.
    """
    writer = ShardWriter(out_dir, source, len(tokenizer))
    enc = Encoding(tokenizer, tokenizer.eos_token_id, end_of_turn_id(tokenizer), writer.dtype)
    take = Take(replay_take) if source == "replay" and replay_take is not None else None
    progress = bar(desc=f"tokenize@{source}", unit="row")
    for chunk, (tokens, mask, lengths) in encoded_chunks(
        _batches(iter_rows(source, location, batch_rows), batch_rows), enc, engine
    ):
        if take is not None:
            tokens, mask, lengths, chunk = _take(take, tokens, mask, lengths, chunk)
        writer.add(tokens, mask, lengths, chunk)
        progress.update(len(chunk))
        if take is not None and take.done:
            break
    progress.close()
    extra = {"replay_source": str(location), "replay_take": replay_take} if source == "replay" else {}
    return writer.close(**extra)


def _take(take: Take, tokens, mask, lengths, chunk):
    keep = np.array([take.keep(r["split"], int(n)) for r, n in zip(chunk, lengths)], bool)
    if keep.all():
        return tokens, mask, lengths, chunk
    per_token = np.repeat(keep, lengths)
    return tokens[per_token], mask[per_token], lengths[keep], [r for r, k in zip(chunk, keep) if k]

"""The tokenize stage: one text source -> one token shard (see cptpipe.data.tokens).

Rows stream from the source in batches of `batch_rows`; each batch is encoded by the tokenizer's
Rust batch path (parallel over cores) and appended to the shard, so memory stays bounded by one
batch however large the source is. Threads inside the Rust encoder beat a process pool over batches
here (2 cores, 8 MB of replay text: 2.0M tokens/s vs 1.5M for a 2-process pool, 1.0M single-threaded).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pyarrow.parquet as pq

from cptpipe.data.sources import HELDOUT_SHARE, SPLITS, iter_replay, read_instruct
from cptpipe.data.tokens import ShardWriter, encode_texts, flat_documents, flat_pairs, split_pairs
from cptpipe.errors import UserError
from cptpipe.progress import bar
from cptpipe.prompts import end_of_turn_id, format_answer, format_prompt

SOURCES = ("domain", "qa", "replay", "instruct")
BATCH = 1024  # rows per tokenizer call: big enough to keep both cores busy, small enough to bound memory


def iter_rows(source: str, location: str | Path) -> Iterator[dict]:
    """Rows of one source as {kind, text | question+answer, split, doc_id}, streamed.

    location: the source's folder (ingest shards, QA parquet files, instruction jsonl files); for
    replay, mix.replay_source: a folder or hf:name[:config]@split.
    """
    if source == "domain":
        files = sorted(Path(location).glob("shard-*.parquet"))
        if not files:
            raise UserError(f"{location}: no shards; run `dvc repro ingest`")
        for f in files:
            for batch in pq.ParquetFile(f).iter_batches(columns=["doc_id", "text", "split"], batch_size=BATCH):
                for d in batch.to_pylist():
                    yield {"text": d["text"], "split": d["split"], "doc_id": d["doc_id"], "kind": "doc"}
    elif source == "qa":
        for split in SPLITS:
            for batch in pq.ParquetFile(Path(location) / f"{split}.parquet").iter_batches(batch_size=BATCH):
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


def tokenize_source(
    source: str,
    tokenizer,
    location: str | Path,
    out_dir: Path,
    *,
    batch_rows: int = BATCH,
    replay_take: int | None = None,
) -> dict:
    """Stream `source`'s rows from `location` (see iter_rows) into a token shard in out_dir; returns its meta.

    For the replay source, `replay_take` stops reading once that many tokens are taken (whole
    rows), which is how a huge streamed HF dataset yields only the tokens the mix needs.
    """
    writer = ShardWriter(out_dir, source, len(tokenizer))
    eos, dtype = tokenizer.eos_token_id, writer.dtype
    end_of_turn = end_of_turn_id(tokenizer)  # closes QA/instruction answers: EOS, or the chat template's
    take = Take(replay_take) if source == "replay" and replay_take is not None else None
    progress = bar(desc=f"tokenize@{source}", unit="row")
    for chunk in _batches(iter_rows(source, location), batch_rows):
        if "text" in chunk[0]:
            tokens, mask, lengths = flat_documents(encode_texts(tokenizer, [r["text"] for r in chunk]), eos, dtype)
        else:
            p_ids, a_ids = split_pairs(
                tokenizer,
                [format_prompt(r["question"], tokenizer) for r in chunk],
                [format_answer(r["answer"], tokenizer) for r in chunk],
            )
            tokens, mask, lengths = flat_pairs(p_ids, a_ids, end_of_turn, dtype)
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
    import numpy as np

    keep = np.array([take.keep(r["split"], int(n)) for r, n in zip(chunk, lengths)], bool)
    if keep.all():
        return tokens, mask, lengths, chunk
    per_token = np.repeat(keep, lengths)
    return tokens[per_token], mask[per_token], lengths[keep], [r for r, k in zip(chunk, keep) if k]

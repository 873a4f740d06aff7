"""Seeded sampling of token pieces per source and packing into fixed-length blocks.

An index is a table of segments (block, source, start, length, pos0): block b is the
concatenation of its segments' token ranges in the source shards. Nothing is copied.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

SEGMENT_SCHEMA = pa.schema([
    ("block", pa.int64()), ("source", pa.string()), ("start", pa.int64()), ("length", pa.int64()),
    ("pos0", pa.int64()),
])


@dataclass
class Sampled:
    starts: np.ndarray   # absolute token offsets in the source shard
    lengths: np.ndarray
    pos0: np.ndarray     # position id of each piece's first token (offset within its row)
    repeats: float       # passes over the eligible rows beyond the first
    eligible_tokens: int


def sample_source(offsets: np.ndarray, lengths: np.ndarray, eligible: np.ndarray, budget: int,
                  seq_len: int, rng: np.random.Generator) -> Sampled:
    """Pieces (<= seq_len) of eligible rows in a seeded order until exactly `budget` tokens."""
    rows = np.flatnonzero(eligible)
    avail = int(lengths[rows].sum())
    if budget <= 0 or avail == 0:
        return Sampled(np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.int64), 0.0, avail)
    starts, lens, pos = [], [], []
    have = 0
    while have < budget:
        for r in rng.permutation(rows):
            off, n = int(offsets[r]), int(lengths[r])
            for p in range(0, n, seq_len):
                take = min(seq_len, n - p, budget - have)
                starts.append(off + p)
                lens.append(take)
                pos.append(p)
                have += take
                if have >= budget:
                    break
            if have >= budget:
                break
    return Sampled(np.asarray(starts, np.int64), np.asarray(lens, np.int64), np.asarray(pos, np.int64),
                   budget / avail - 1.0 if budget > avail else 0.0, avail)


def pack(pieces: list[tuple[str, int, int, int]], seq_len: int) -> tuple[pa.Table, int]:
    """Pack (source, start, length, pos0) pieces in order into blocks; split pieces at block ends.

    Returns the segment table and the number of padding tokens in the final block.
    """
    cols: dict[str, list] = {k: [] for k in SEGMENT_SCHEMA.names}
    block, fill = 0, 0
    for source, start, length, pos0 in pieces:
        while length > 0:
            take = min(length, seq_len - fill)
            for k, v in zip(SEGMENT_SCHEMA.names, (block, source, start, take, pos0)):
                cols[k].append(v)
            start, length, pos0, fill = start + take, length - take, pos0 + take, fill + take
            if fill == seq_len:
                block, fill = block + 1, 0
    padding = (seq_len - fill) % seq_len
    return pa.table(cols, schema=SEGMENT_SCHEMA), padding


def build_phase(sources: dict, budgets: dict[str, int], seq_len: int, rng: np.random.Generator
                ) -> tuple[pa.Table, dict]:
    """Sample every source of a phase, interleave uniformly at random, pack; return index + report."""
    pieces: list[tuple[str, int, int, int]] = []
    report: dict = {"sources": {}}
    for name in sorted(budgets):
        rows = sources[name]
        s = sample_source(rows["offset"], rows["length"], rows["split"] == "train", budgets[name], seq_len, rng)
        if s.repeats > 0:
            warnings.warn(f"mix: source {name!r} has {s.eligible_tokens} train tokens for a budget of "
                          f"{budgets[name]}: repeated {s.repeats + 1:.2f}x", stacklevel=2)
        if len(s.lengths) == 0:
            warnings.warn(f"mix: source {name!r} has no train rows; its budget {budgets[name]} is unused",
                          stacklevel=2)
        pieces.extend(zip([name] * len(s.starts), s.starts.tolist(), s.lengths.tolist(), s.pos0.tolist()))
        report["sources"][name] = {"requested": budgets[name], "used": int(s.lengths.sum()),
                                   "available": s.eligible_tokens, "repeats": round(s.repeats, 4)}
    order = rng.permutation(len(pieces))
    table, padding = pack([pieces[i] for i in order], seq_len)
    total = sum(v["used"] for v in report["sources"].values())
    for v in report["sources"].values():
        v["share"] = round(v["used"] / total, 6) if total else 0.0
    n_blocks = int(table.column("block").to_numpy()[-1]) + 1 if table.num_rows else 0
    report.update(tokens=total, blocks=n_blocks, padding_tokens=padding,
                  padding_fraction=round(padding / max(1, n_blocks * seq_len), 6))
    return table, report

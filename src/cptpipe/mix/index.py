"""Seeded sampling of token pieces per source and packing into fixed-length blocks.

An index is a table of segments (block, source, start, length, pos0): block b is the
concatenation of its segments' token ranges in the source shards. Nothing is copied.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

SEGMENT_SCHEMA = pa.schema(
    [(name, pa.string() if name == "source" else pa.int64()) for name in ("block", "source", "start", "length", "pos0")]
)


@dataclass
class Sampled:
    starts: np.ndarray  # absolute token offsets in the source shard
    lengths: np.ndarray
    pos0: np.ndarray  # position id of each piece's first token: 0, every piece restarts
    repeats: float  # passes over the eligible rows beyond the first
    eligible_tokens: int


def sample_source(
    offsets: np.ndarray,
    lengths: np.ndarray,
    eligible: np.ndarray,
    budget: int,
    seq_len: int,
    rng: np.random.Generator,
    whole_rows: bool = False,
) -> Sampled:
    """Pieces (<= seq_len) of eligible rows in a seeded order until `budget` tokens.

    Documents are cut into seq_len pieces and the last piece is cut to hit the budget exactly. With
    `whole_rows` (prompt/answer pairs) a row is one piece, never cut (truncated to seq_len only if
    longer), so the budget is met to within one row. Every piece starts at position id 0: a piece
    is trained as a sequence of its own, and a model with learned absolute positions (GPT-2) would
    fail on ids at or past its context.
    """
    rows = np.flatnonzero(eligible)
    avail = int(lengths[rows].sum())
    if budget <= 0 or avail == 0:
        return Sampled(np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.int64), 0.0, avail)
    starts, lens = [], []
    have = 0
    while have < budget:
        for r in rng.permutation(rows):
            off, n = int(offsets[r]), int(lengths[r])
            for p in range(0, 1 if whole_rows else n, seq_len):
                take = min(seq_len, n - p) if whole_rows else min(seq_len, n - p, budget - have)
                starts.append(off + p)
                lens.append(take)
                have += take
                if have >= budget:
                    break
            if have >= budget:
                break
    lens_arr = np.asarray(lens, np.int64)
    return Sampled(
        np.asarray(starts, np.int64),
        lens_arr,
        np.zeros(len(lens_arr), np.int64),
        budget / avail - 1.0 if budget > avail else 0.0,
        avail,
    )


def pack(
    pieces: list[tuple[str, int, int, int]], seq_len: int, whole: frozenset[str] = frozenset()
) -> tuple[pa.Table, int]:
    """Pack (source, start, length, pos0) pieces in order into blocks.

    Pieces split at block ends and continue their position ids in the next block, except pieces of
    the `whole` sources (prompt/answer pairs, domain documents): such a piece that does not fit in
    the rest of a block starts the next one, since half a pair is a prompt without answer or an
    answer without question, and half a document states facts without naming whose they are.
    Returns the segment table and the number of padding tokens.
    """
    cols: dict[str, list] = {k: [] for k in SEGMENT_SCHEMA.names}
    block, fill, padding = 0, 0, 0
    for source, start, length, pos0 in pieces:
        if source in whole and fill and fill + length > seq_len:
            block, fill, padding = block + 1, 0, padding + seq_len - fill
        while length > 0:
            take = min(length, seq_len - fill)
            for k, v in zip(SEGMENT_SCHEMA.names, (block, source, start, take, pos0)):
                cols[k].append(v)
            start, length, pos0, fill = start + take, length - take, pos0 + take, fill + take
            if fill == seq_len:
                block, fill = block + 1, 0
    padding += (seq_len - fill) % seq_len
    return pa.table(cols, schema=SEGMENT_SCHEMA), padding


def pack_rows(pieces: list[tuple[str, int, int, int]]) -> tuple[pa.Table, int, int]:
    """One piece per block (QA phases: one pair per sequence, so every pair is its own example and an
    epoch has as many sequences as pairs). Returns the table, the block length (the longest piece,
    rounded up to a multiple of 8) and the padding tokens."""
    lengths = np.array([p[2] for p in pieces], np.int64)
    seq_len = row_block_len(lengths.tolist())
    cols = {
        "block": np.arange(len(pieces), dtype=np.int64),
        "source": [p[0] for p in pieces],
        "start": np.array([p[1] for p in pieces], np.int64),
        "length": lengths,
        "pos0": np.array([p[3] for p in pieces], np.int64),
    }
    return pa.table(cols, schema=SEGMENT_SCHEMA), seq_len, int(len(pieces) * seq_len - lengths.sum())


def ramp_slope(start: float, share: float) -> float:
    """Slope k of the progressive target share s(x) = min(1, start + k*x), x in [0, 1] through the
    phase, such that the mean of s is exactly `share` (so the phase totals stay as budgeted)."""
    if share <= start:
        return 0.0
    if 2 * share - start <= 1:
        return 2 * (share - start)
    return (1 - start) ** 2 / (2 * (1 - share))  # reaches 1 at x* = 2(1-share)/(1-start), then holds


def progressive_order(is_ramp: np.ndarray, lengths: np.ndarray, start: float) -> np.ndarray:
    """Order pieces so the ramp source's running token count follows the integral of the target share.

    Ramp pieces and the others each keep their (seeded) order; at every step the next piece is a
    ramp piece when the ramp source is at or behind its target curve, so it tracks the curve to
    within one piece (<= seq_len tokens) and uses every piece: the totals are exact.
    """
    total = int(lengths.sum())
    ramp_idx, other_idx = np.flatnonzero(is_ramp), np.flatnonzero(~is_ramp)
    share = float(lengths[ramp_idx].sum()) / total if total else 0.0
    start = min(start, share)
    k = ramp_slope(start, share)
    x_cap = (1 - start) / k if k > 0 else np.inf

    def target(t: float) -> float:  # ramp tokens wanted among the first t tokens
        x = t / total
        if x <= x_cap:
            return total * (start * x + k * x * x / 2)
        return total * (start * x_cap + k * x_cap * x_cap / 2 + (x - x_cap))

    order = np.empty(len(lengths), np.int64)
    i = j = placed = ramp_placed = 0
    for n in range(len(lengths)):
        if j >= len(other_idx) or (i < len(ramp_idx) and ramp_placed <= target(placed)):
            order[n] = ramp_idx[i]
            ramp_placed += int(lengths[ramp_idx[i]])
            i += 1
        else:
            order[n] = other_idx[j]
            j += 1
        placed += int(lengths[order[n]])
    return order


def share_by_tenth(table: pa.Table, source: str) -> list[float]:
    """Share of `source` tokens in each tenth of a phase's blocks (the schedule as it really is)."""
    blocks = table.column("block").to_numpy()
    if not len(blocks):
        return []
    tenth = np.minimum(blocks * 10 // (int(blocks[-1]) + 1), 9)
    length = table.column("length").to_numpy()
    mine = np.asarray(table.column("source").to_pylist()) == source
    all_t = np.bincount(tenth, weights=length, minlength=10)
    src_t = np.bincount(tenth, weights=length * mine, minlength=10)
    return [round(float(a / b), 4) if b else 0.0 for a, b in zip(src_t, all_t)]


# Documents of both splits are trained on: the held-out split only withholds their *QA* (Jiang et al.
# 2024 train on all documents and ask about those whose QA was never seen). QA, replay and
# instruction rows of the held-out split are evaluation data and never sampled.
ALL_SPLITS_SOURCES = frozenset({"domain"})
# Domain pieces never straddle two blocks: the second half of a document cut at a block end trains its
# facts ("The town lies in the region of Kelverin") with no sight of the entity the first half names,
# so they cannot be recalled from a question about that entity.
UNSPLIT_SOURCES = frozenset({"domain"})


def eligible_rows(name: str, split: np.ndarray) -> np.ndarray:
    """Rows of a source the mix may sample."""
    return np.ones(len(split), bool) if name in ALL_SPLITS_SOURCES else split == "train"


def row_block_len(lengths) -> int:
    """Block length of a phase of one piece per block: the longest piece, rounded up to a multiple of 8."""
    return int(-(-int(max(lengths, default=1)) // 8) * 8)


def sample_pieces(
    sources: dict,
    budgets: dict[str, int],
    seq_len: int,
    rng: np.random.Generator,
    pair_sources: frozenset[str],
    one_per_block: bool = False,
) -> tuple[list[tuple[str, int, int, int]], dict[str, dict]]:
    """Every source's sampled pieces (source, start, length, pos0), sources in name order, and
    their accounting (requested, used, available, repeats, pieces); warns on repeats and empty sources.

    With one_per_block (a phase of pairs, e.g. QA with replay), pair sources are sampled first and the
    other sources' rows are cut into pieces of the pairs' block length, so a replay piece fills one
    block as a pair does and the blocks stay short.
    """
    pieces: list[tuple[str, int, int, int]] = []
    accounting: dict[str, dict] = {}
    order = sorted(budgets, key=lambda n: (one_per_block and n not in pair_sources, n))
    for name in order:
        rows = sources[name]
        whole = name in pair_sources
        piece_len = seq_len if whole or not one_per_block else min(seq_len, row_block_len(p[2] for p in pieces))
        s = sample_source(
            rows["offset"],
            rows["length"],
            eligible_rows(name, rows["split"]),
            budgets[name],
            piece_len,
            rng,
            whole_rows=whole,
        )
        if s.repeats > 0 and name not in pair_sources:  # QA phases repeat by design (mix.qa_epochs)
            warnings.warn(
                f"mix: source {name!r} has {s.eligible_tokens} trainable tokens for a budget of "
                f"{budgets[name]}: repeated {s.repeats + 1:.2f}x",
                stacklevel=3,
            )
        if len(s.lengths) == 0:
            warnings.warn(
                f"mix: source {name!r} has no trainable rows; its budget {budgets[name]} is unused", stacklevel=3
            )
        pieces.extend(zip([name] * len(s.starts), s.starts.tolist(), s.lengths.tolist(), s.pos0.tolist()))
        accounting[name] = {
            "requested": budgets[name],
            "used": int(s.lengths.sum()),
            "available": s.eligible_tokens,
            "repeats": round(s.repeats, 4),
            "pieces": len(s.lengths),
        }
    return pieces, accounting


def add_shares(accounting: dict[str, dict]) -> tuple[int, int]:
    """Each source's used and requested share, in place; returns (used, requested) token totals."""
    total = sum(v["used"] for v in accounting.values())
    requested = sum(v["requested"] for v in accounting.values())
    for v in accounting.values():
        v["share"] = round(v["used"] / total, 6) if total else 0.0
        v["share_requested"] = round(v["requested"] / requested, 6) if requested else 0.0
    return total, requested


def build_phase(
    sources: dict,
    budgets: dict[str, int],
    seq_len: int,
    rng: np.random.Generator,
    schedule: str = "constant",
    progressive_start: float = 0.5,
    pair_sources: frozenset[str] = frozenset(),
) -> tuple[pa.Table, dict]:
    """Sample every source of a phase, order the pieces, pack; return index + report.

    constant: pieces of all sources interleaved uniformly at random. progressive (phases with domain
    and another source): the domain share ramps from progressive_start (see progressive_order).
    A phase without documents is packed one piece per block (`pack_rows`: a pair, or a replay piece of
    the pairs' length); the report's seq_len is the phase's block length.
    """
    one_per_block = bool(budgets) and not (set(budgets) & UNSPLIT_SOURCES) and bool(set(budgets) & pair_sources)
    pieces, accounting = sample_pieces(sources, budgets, seq_len, rng, pair_sources, one_per_block)
    report: dict = {"sources": accounting}
    order = rng.permutation(len(pieces))
    progressive = schedule == "progressive" and "domain" in budgets and len(budgets) > 1
    if progressive:
        shuffled = [pieces[i] for i in order]
        is_domain = np.array([p[0] == "domain" for p in shuffled], bool)
        lengths = np.array([p[2] for p in shuffled], np.int64)
        order = order[progressive_order(is_domain, lengths, progressive_start)]
    ordered = [pieces[i] for i in order]
    if one_per_block:
        table, seq_len, padding = pack_rows(ordered)
    else:
        table, padding = pack(ordered, seq_len, pair_sources | UNSPLIT_SOURCES)
    total, requested = add_shares(accounting)
    n_blocks = int(table.column("block").to_numpy()[-1]) + 1 if table.num_rows else 0
    report.update(
        tokens=total,
        requested_tokens=requested,
        blocks=n_blocks,
        padding_tokens=padding,
        padding_fraction=round(padding / max(1, n_blocks * seq_len), 6),
        seq_len=seq_len,
        packing="one piece per block" if one_per_block else "packed",
        schedule="progressive" if progressive else "constant",
    )
    if "domain" in budgets:
        report["domain_share_by_tenth"] = share_by_tenth(table, "domain")
    return table, report

"""Seeded sampling of token pieces per source, their order, and packing into fixed-length blocks.

Everything is numpy columns (`Pieces`, `Segments`): memory grows by tens of bytes per piece and time
by numpy passes over the pieces, never by a Python object or step per piece, so a mix of billions of
tokens plans in seconds (bench/mix.py). The seeded draws are those of the piece-by-piece rules each
function states, so an index is byte-identical to what those rules write.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from cptpipe.mix.pack import CHUNK, Pieces, Segments, pack, pack_rows, row_block_len


@dataclass
class Sampled:
    starts: np.ndarray  # absolute token offsets in the source shard
    lengths: np.ndarray  # int32 (a piece is at most seq_len long)
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

    Each pass over the rows is one `rng.permutation`; documents are cut into seq_len pieces and the
    last piece is cut to hit the budget exactly. With `whole_rows` (prompt/answer pairs) a row is one
    piece, never cut (truncated to seq_len only if longer), so the budget is met to within one row.
    Every piece starts at position id 0: a piece is trained as a sequence of its own, and a model
    with learned absolute positions (GPT-2) would fail on ids at or past its context.
    """
    rows = np.flatnonzero(eligible)
    avail = int(lengths[rows].sum())
    if budget <= 0 or avail == 0:
        return Sampled(np.zeros(0, np.int64), np.zeros(0, np.int32), 0.0, avail)
    starts, lens = [], []
    need = budget
    while need > 0:
        order = rng.permutation(rows)  # one pass
        taken, last = pass_end(order, lengths, need, seq_len, whole_rows)
        s, ln = cut_rows(offsets, lengths, order[:taken], seq_len, whole_rows, last)
        del order
        starts.append(s)
        lens.append(ln)
        need -= int(ln.sum())
    return Sampled(
        starts[0] if len(starts) == 1 else np.concatenate(starts),
        lens[0] if len(lens) == 1 else np.concatenate(lens),
        budget / avail - 1.0 if budget > avail else 0.0,
        avail,
    )


def pass_end(
    order: np.ndarray, lengths: np.ndarray, need: int, seq_len: int, whole_rows: bool
) -> tuple[int, int | None]:
    """How many rows of a pass (in `order`) reach `need` tokens (all of them if they do not), and, for
    documents, the tokens taken from the last of those rows (cut to hit `need` exactly; None: whole)."""
    have = 0
    for lo in range(0, len(order), CHUNK):
        n = lengths[order[lo : lo + CHUNK]].astype(np.int64)
        cum = have + np.cumsum(np.minimum(n, seq_len) if whole_rows else n)
        if cum[-1] >= need:
            i = int(np.searchsorted(cum, need))  # the first row that reaches it
            return lo + i + 1, None if whole_rows else int(n[i] - (cum[i] - need))
        have = int(cum[-1])
    return len(order), None


def cut_rows(
    offsets: np.ndarray,
    lengths: np.ndarray,
    rows: np.ndarray,
    seq_len: int,
    whole_rows: bool = False,
    last: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """(starts, lengths) of the pieces of `rows` in order: a row's consecutive seq_len cuts (none for an
    empty row), or with whole_rows one piece per row, truncated to seq_len. `last`: tokens taken from
    the last row (the budget's cut). Works through the rows in chunks: no per-row temporary is whole."""

    def chunk(lo: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:  # offsets, lengths, pieces per row
        n = lengths[rows[lo : lo + CHUNK]].astype(np.int64)
        if last is not None and lo + CHUNK >= len(rows):
            n[-1] = last
        return offsets[rows[lo : lo + CHUNK]], n, np.ones(len(n), np.int64) if whole_rows else -(-n // seq_len)

    total = sum(int(chunk(lo)[2].sum()) for lo in range(0, len(rows), CHUNK))
    starts, lens = np.empty(total, np.int64), np.empty(total, np.int32 if seq_len < 2**31 else np.int64)
    at = 0
    for lo in range(0, len(rows), CHUNK):
        off, n, c = chunk(lo)
        row = np.repeat(np.arange(len(c)), c)
        cut = (np.arange(len(row)) - np.repeat(np.cumsum(c) - c, c)) * seq_len
        starts[at : at + len(row)] = off[row] + cut
        lens[at : at + len(row)] = np.minimum(seq_len, n[row] - cut)
        at += len(row)
    return starts, lens


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
    ramp piece when the ramp source is at or behind its target curve (`_ramp_next`), so it tracks the
    curve to within one piece (<= seq_len tokens) and uses every piece: the totals are exact.

    How many ramp pieces precede each other piece is found by bisection (the rule is monotone: a
    ramp piece more puts the ramp further ahead, another piece more moves the target on), for all
    other pieces at once; the order is then checked step by step against the rule, and built by
    applying the rule piece by piece in the (never seen) case a float rounding broke monotony.
    """
    ramp_idx, other_idx = np.flatnonzero(is_ramp), np.flatnonzero(~is_ramp)
    ramp_next = _ramp_next(lengths[ramp_idx], lengths[other_idx], start)
    n_ramp, n_other = len(ramp_idx), len(other_idx)
    before = np.empty(n_other, np.int64)  # ramp pieces placed before other piece j
    for lo in range(0, n_other, CHUNK):
        j = np.arange(lo, min(n_other, lo + CHUNK))
        a, b = np.zeros(len(j), np.int64), np.full(len(j), n_ramp, np.int64)  # rule holds below a, fails at b
        while (a < b).any():
            mid = (a + b) // 2
            go = ramp_next(mid, j)
            a, b = np.where(go, mid + 1, a), np.where(go, b, mid)
        before[lo : lo + len(j)] = a
    is_other = np.zeros(len(lengths), bool)
    is_other[np.maximum.accumulate(before) + np.arange(n_other)] = True
    order = np.empty(len(lengths), np.int64)
    order[is_other], order[~is_other] = other_idx, ramp_idx
    if not _follows_ramp_rule(is_other, ramp_next):
        return _progressive_order_stepwise(ramp_idx, other_idx, ramp_next)
    return order


def _ramp_next(ramp_lengths: np.ndarray, other_lengths: np.ndarray, start: float):
    """The ordering rule as a vectorized test: with i ramp and j other pieces placed, does a ramp piece
    come next? Yes when no other piece is left, or a ramp piece is left and the ramp's tokens are at or
    below target(placed tokens), evaluated with the float operations of the scalar formula."""
    ramp_cum = np.concatenate([[0], np.cumsum(ramp_lengths, dtype=np.int64)])
    other_cum = np.concatenate([[0], np.cumsum(other_lengths, dtype=np.int64)])
    total = int(ramp_cum[-1] + other_cum[-1])
    share = float(ramp_cum[-1]) / total if total else 0.0
    start = min(start, share)
    k = ramp_slope(start, share)
    x_cap = (1 - start) / k if k > 0 else np.inf
    capped = start * x_cap + k * x_cap * x_cap / 2 if k > 0 else 0.0
    n_ramp, n_other = len(ramp_lengths), len(other_lengths)

    def target(t: np.ndarray) -> np.ndarray:  # ramp tokens wanted among the first t tokens
        x = t / total
        out = total * (start * x + k * x * x / 2)
        over = x > x_cap
        if over.any():
            out[over] = total * (capped + (x[over] - x_cap))
        return out

    def ramp_next(i: np.ndarray, j: np.ndarray) -> np.ndarray:
        i, j = np.minimum(i, n_ramp), np.minimum(j, n_other)
        return (j >= n_other) | ((i < n_ramp) & (ramp_cum[i] <= target(ramp_cum[i] + other_cum[j])))

    return ramp_next


def _follows_ramp_rule(is_other: np.ndarray, ramp_next) -> bool:
    """Whether every step of an order (is_other[n]: step n places an other piece) is the rule's choice."""
    placed_other = 0
    for lo in range(0, len(is_other), CHUNK):
        step = is_other[lo : lo + CHUNK]
        j = placed_other + np.cumsum(step) - step  # other pieces placed before each step
        i = np.arange(lo, lo + len(step)) - j
        if (ramp_next(i, j) == step).any():
            return False
        placed_other += int(step.sum())
    return True


def _progressive_order_stepwise(ramp_idx: np.ndarray, other_idx: np.ndarray, ramp_next) -> np.ndarray:
    """The ordering rule applied one piece at a time: the fallback (slow, a numpy call per piece)."""
    order = np.empty(len(ramp_idx) + len(other_idx), np.int64)
    i = j = 0
    for n in range(len(order)):
        if ramp_next(np.array([i]), np.array([j]))[0]:
            order[n], i = ramp_idx[i], i + 1
        else:
            order[n], j = other_idx[j], j + 1
    return order


def share_by_tenth(segments: Segments, source: str) -> list[float]:
    """Share of `source` tokens in each tenth of a phase's blocks (the schedule as it really is)."""
    n_blocks = segments.n_blocks
    if not n_blocks:
        return []
    mine = [i for i, n in enumerate(segments.names) if n == source]
    all_t, src_t = np.zeros(10), np.zeros(10)
    for lo in range(0, len(segments), CHUNK):
        tenth = np.minimum(segments.block[lo : lo + CHUNK].astype(np.int64) * 10 // n_blocks, 9)
        length = segments.length[lo : lo + CHUNK]
        all_t += np.bincount(tenth, weights=length, minlength=10)
        src_t += np.bincount(tenth, weights=length * np.isin(segments.source[lo : lo + CHUNK], mine), minlength=10)
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


def sample_pieces(
    sources: dict,
    budgets: dict[str, int],
    seq_len: int,
    rng: np.random.Generator,
    pair_sources: frozenset[str],
    one_per_block: bool = False,
) -> tuple[Pieces, dict[str, dict]]:
    """Every source's sampled pieces, sources in name order, and their accounting (requested, used,
    available, repeats, pieces); warns on repeats and empty sources.

    With one_per_block (a phase of pairs, e.g. QA with replay), pair sources are sampled first and the
    other sources' rows are cut into pieces of the pairs' block length, so a replay piece fills one
    block as a pair does and the blocks stay short.
    """
    names = tuple(sorted(budgets, key=lambda n: (one_per_block and n not in pair_sources, n)))
    starts, lengths = [], []
    accounting: dict[str, dict] = {}
    for name in names:
        rows = sources[name]
        whole = name in pair_sources
        piece_len = seq_len
        if not whole and one_per_block:
            piece_len = min(seq_len, row_block_len(np.concatenate([np.zeros(0, np.int64), *lengths])))
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
        starts.append(s.starts)
        lengths.append(s.lengths)
        accounting[name] = {
            "requested": budgets[name],
            "used": int(s.lengths.sum()),
            "available": s.eligible_tokens,
            "repeats": round(s.repeats, 4),
            "pieces": len(s.lengths),
        }
    codes = np.repeat(np.arange(len(names), dtype=np.uint8), [len(x) for x in lengths])
    start = np.concatenate([np.zeros(0, np.int64), *starts])
    del starts
    return Pieces(names, codes, start, np.concatenate([np.zeros(0, np.int32), *lengths])), accounting


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
    pack_pairs: bool = False,
) -> tuple[Segments, dict]:
    """Sample every source of a phase, order the pieces, pack; return index + report.

    constant: pieces of all sources interleaved uniformly at random. progressive (phases with domain
    and another source): the domain share ramps from progressive_start (see progressive_order).
    A phase with pairs and without documents is packed one piece per block (`pack_rows`: a pair, or a
    replay piece of the pairs' length; the report's seq_len is the phase's block length), unless
    pack_pairs: then its pieces are packed whole into seq_len blocks like a documents phase's.
    """
    one_per_block = (
        not pack_pairs and bool(budgets) and not (set(budgets) & UNSPLIT_SOURCES) and bool(set(budgets) & pair_sources)
    )
    pieces, accounting = sample_pieces(sources, budgets, seq_len, rng, pair_sources, one_per_block)
    report: dict = {"sources": accounting}
    order = rng.permutation(len(pieces))
    progressive = schedule == "progressive" and "domain" in budgets and len(budgets) > 1
    if progressive:
        is_domain = np.isin(pieces.source[order], pieces.codes_of({"domain"}))
        order = order[progressive_order(is_domain, pieces.length[order], progressive_start)]
    pieces.reorder(order)
    del order
    if one_per_block:
        segments, seq_len, padding = pack_rows(pieces)
    else:
        segments, padding = pack(pieces, seq_len, pair_sources | UNSPLIT_SOURCES)
    total, requested = add_shares(accounting)
    report.update(
        tokens=total,
        requested_tokens=requested,
        **packing_report(segments.n_blocks, padding, seq_len),
        seq_len=seq_len,
        packing="one piece per block" if one_per_block else "packed",
        schedule="progressive" if progressive else "constant",
    )
    if "domain" in budgets:
        report["domain_share_by_tenth"] = share_by_tenth(segments, "domain")
    return segments, report


def build_pool(
    sources: dict, name: str, budget: int, seq_len: int, rng: np.random.Generator, pair_sources: frozenset[str]
) -> tuple[Segments, dict]:
    """Blocks of one source alone, in sampling order (an adaptive phase draws from such pools).

    No shuffle across passes: each pass is already a seeded permutation of the rows, so a run that
    uses a prefix of the pool (a smaller share than the pool was sized for) sees its passes evenly.
    """
    pieces, accounting = sample_pieces(sources, {name: budget}, seq_len, rng, pair_sources)
    segments, padding = pack(pieces, seq_len, pair_sources | UNSPLIT_SOURCES)
    return segments, {**accounting[name], **packing_report(segments.n_blocks, padding, seq_len)}


def packing_report(n_blocks: int, padding: int, seq_len: int) -> dict:
    """Blocks and padding of a packed index, as reports/mix.json gives them."""
    return {
        "blocks": n_blocks,
        "padding_tokens": padding,
        "padding_fraction": round(padding / max(1, n_blocks * seq_len), 6),
    }

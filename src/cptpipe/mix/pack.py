"""Packing sampled pieces into fixed-length blocks, as numpy columns (no Python object per piece or block).

An index is a table of segments (block, source, start, length, pos0): block b is the concatenation of
its segments' token ranges in the source shards. Nothing is copied.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

SEGMENT_SCHEMA = pa.schema(
    [(name, pa.string() if name == "source" else pa.int64()) for name in ("block", "source", "start", "length", "pos0")]
)
# Rows per Parquet row group: pq.write_table's default, so an index written a group at a time has the
# bytes the whole table written at once would have.
ROW_GROUP = 1024 * 1024
CHUNK = 1 << 20  # pieces expanded into segments at a time


@dataclass
class Pieces:
    """Token ranges in order, as columns; every piece is trained from position id 0."""

    names: tuple[str, ...]  # source of code c is names[c]
    source: np.ndarray  # uint8 codes into names
    start: np.ndarray  # int64 token offset in the source shard
    length: np.ndarray  # int32 when sampled (a piece is at most a block long)

    def __len__(self) -> int:
        return len(self.length)

    def reorder(self, order: np.ndarray) -> None:
        """Put the pieces in `order`, in place, one column at a time (a column's old copy goes before
        the next is gathered)."""
        self.source = self.source[order]
        self.start = self.start[order]
        self.length = self.length[order]

    def codes_of(self, names) -> np.ndarray:
        """Codes of the given source names (those present)."""
        return np.array([i for i, n in enumerate(self.names) if n in names], np.uint8)


@dataclass
class Segments:
    """A phase index as columns, one row per segment (SEGMENT_SCHEMA), blocks in order."""

    names: tuple[str, ...]
    block: np.ndarray
    source: np.ndarray  # uint8 codes into names
    start: np.ndarray
    length: np.ndarray
    pos0: np.ndarray

    @property
    def n_blocks(self) -> int:
        return int(self.block[-1]) + 1 if len(self.block) else 0

    def __len__(self) -> int:
        return len(self.block)

    def table(self, lo: int = 0, hi: int | None = None) -> pa.Table:
        """Rows [lo, hi) as an Arrow table of SEGMENT_SCHEMA (source names as strings)."""
        sl = slice(lo, hi)
        codes = pa.array(self.source[sl].astype(np.int32))
        source = pa.DictionaryArray.from_arrays(codes, pa.array(self.names, pa.string()))
        cols = {"block": self.block[sl].astype(np.int64), "source": source.cast(pa.string()), "start": self.start[sl]}
        cols.update(length=self.length[sl].astype(np.int64), pos0=self.pos0[sl].astype(np.int64))
        return pa.table({k: cols[k] for k in SEGMENT_SCHEMA.names}, schema=SEGMENT_SCHEMA)

    def write(self, path: Path) -> None:
        """The index as Parquet, one row group at a time (bytes as pq.write_table(self.table()) writes)."""
        with pq.ParquetWriter(path, SEGMENT_SCHEMA) as w:
            if not len(self):
                w.write_table(self.table())
            for lo in range(0, len(self), ROW_GROUP):
                w.write_table(self.table(lo, lo + ROW_GROUP))


@dataclass
class BlockIndex:
    """An index file as training reads it: segment columns and where each block's segments begin.

    17 bytes a segment (start int64, length and pos0 int32, source uint8) and 4 a block; no Python
    object per segment or block.
    """

    names: tuple[str, ...]
    source: np.ndarray  # uint8 codes into names
    start: np.ndarray
    length: np.ndarray
    pos0: np.ndarray
    bounds: np.ndarray  # block b is segments [bounds[b], bounds[b+1])

    @classmethod
    def read(cls, path: Path) -> BlockIndex:
        """Read one row group at a time, so no whole-file Arrow table is held beside the columns."""
        f = pq.ParquetFile(path, read_dictionary=["source"])
        n = f.metadata.num_rows
        index = _index_dtype(n + 1)
        out = cls((), *(np.empty(n, t) for t in (np.uint8, np.int64, np.int32, np.int32)), np.zeros(0, index))
        names: list[str] = []
        firsts, last, at = [], -1, 0
        for g in range(f.num_row_groups):
            t = f.read_row_group(g)
            sl = slice(at, at + t.num_rows)
            for chunk in t.column("source").chunks:
                local = chunk.dictionary.to_pylist()
                names.extend(v for v in local if v not in names)
                remap = np.array([names.index(v) for v in local], np.uint8)
                out.source[at : at + len(chunk)] = remap[chunk.indices.to_numpy()]
                at += len(chunk)
            out.start[sl] = t.column("start").to_numpy()
            for name in ("length", "pos0"):
                values = t.column(name).to_numpy()
                if len(values) and not (values.min() >= 0 and values.max() < 2**31):
                    raise ValueError(f"{path}: {name} outside 0..2**31 in row group {g}; not a mix index")
                getattr(out, name)[sl] = values
            step = np.diff(t.column("block").to_numpy(), prepend=last)
            if len(step) and not ((step == 0) | (step == 1)).all():
                raise ValueError(f"{path}: blocks not in order 0, 1, 2, ... in row group {g}; not a mix index")
            firsts.append((sl.start + np.flatnonzero(step)).astype(index))
            last += int(step.sum())
        out.names, out.bounds = tuple(names), np.concatenate([*firsts, np.array([n], index)])
        pa.default_memory_pool().release_unused()  # the decoded row groups' buffers
        return out


def padded_starts(length: np.ndarray, whole: np.ndarray, seq_len: int) -> np.ndarray:
    """Where each piece starts in the stream of blocks (block b = positions [b*seq_len, (b+1)*seq_len)).

    The rule, piece by piece: a `whole` piece that starts inside a block (fill > 0) and does not fit
    in its rest starts the next block (the rest is padding); every other piece follows the one before
    and is split at block ends. Only a pad moves the stream against the unpadded token count, so the
    pieces that start a block after a pad ("resets") decide everything; from a reset the next one is
    found with one searchsorted per block it crosses (`_next_reset`), for all candidate resets at once,
    and the chain of resets from piece 0 is followed by pointer doubling (`_chain`). The result is
    checked against the rule piece by piece before it is returned.
    """
    start = np.cumsum(length, dtype=np.int64)
    total = int(start[-1]) if len(start) else 0
    start -= length
    if not whole.any():
        return start
    index = _index_dtype(len(length) + 1)
    # a pad moves only a whole piece; piece 0 starts the first block
    candidates = [np.zeros(0 if whole[0] else 1, index)]
    candidates += [(lo + np.flatnonzero(whole[lo : lo + CHUNK])).astype(index) for lo in range(0, len(whole), CHUNK)]
    candidates = np.concatenate(candidates)
    nxt = _next_reset(start, total, whole, seq_len, candidates)
    for lo in range(0, len(nxt), CHUNK):  # piece index -> candidate index, in place
        nxt[lo : lo + CHUNK] = np.searchsorted(candidates, nxt[lo : lo + CHUNK])
    resets = candidates[_chain(nxt)]  # nxt is used up
    del candidates, nxt
    # blocks between two resets: the unpadded distance rounded up (the pad closes the last one)
    gap = np.diff(start[resets])
    shift = np.concatenate([[0], np.cumsum(-(-gap // seq_len))]) * seq_len - start[resets]  # padding before
    for lo in range(0, len(start), CHUNK):  # start becomes the padded start, in place
        reset = np.searchsorted(resets, np.arange(lo, min(len(start), lo + CHUNK)), side="right") - 1
        start[lo : lo + CHUNK] += shift[reset]
    if not _follows_rule(start, length, whole, seq_len):
        raise AssertionError("mix: vectorized packing disagrees with the packing rule (a bug; please report)")
    return start


def _index_dtype(n: int) -> np.dtype:
    return np.dtype(np.int32) if n < 2**31 else np.dtype(np.int64)


def _next_reset(start: np.ndarray, total: int, whole: np.ndarray, seq_len: int, candidates: np.ndarray) -> np.ndarray:
    """For a block starting at each candidate piece, the next piece that a pad moves to a block start
    (len(start) if none). Block k after the candidate ends at edge = start + k*seq_len; the piece
    straddling the edge is padded when it is whole and started inside that block, else it is split (or
    ends exactly there) and the blocks go on with the same phase. Pieces are contiguous, so the first
    piece ending past a position is the last one starting at or before it (`total`: where the last ends)."""
    n = len(start)
    out = np.full(len(candidates) + 1, n, candidates.dtype)  # + 1: room for _chain's sink
    for lo in range(0, len(candidates), CHUNK):
        todo = np.arange(lo, min(len(candidates), lo + CHUNK))
        k = 1
        while len(todo):
            edge = start[candidates[todo]] + k * seq_len
            m = np.searchsorted(start, edge, side="right") - 1  # the piece ending past the edge
            inside = edge < total
            todo, edge, m = todo[inside], edge[inside], m[inside]
            pad = whole[m] & (start[m] > edge - seq_len) & (start[m] < edge)
            out[todo[pad]] = m[pad]
            todo = todo[~pad]
            k += 1
    return out


def _chain(jump: np.ndarray) -> np.ndarray:
    """Indices reached from 0 by following jump[:-1] (jump[i] > i; values >= n = len(jump) - 1 end the
    chain), sorted, by pointer doubling: after round t the set holds the first 2**(t+1) links. The
    array is overwritten (its last item is room for a sink)."""
    n = len(jump) - 1
    np.minimum(jump, n, out=jump)
    jump[n] = n  # a sink that points at itself
    reached = np.zeros(n + 1, bool)
    reached[0] = True
    spare = np.empty_like(jump)
    for _ in range(n.bit_length() + 1):  # a chain of at most n links ends within that many rounds
        if jump[0] >= n:
            return np.flatnonzero(reached[:n])
        reached[jump[reached]] = True
        np.take(jump, jump, out=spare, mode="clip")  # jump twice as far ("raise" would buffer a copy)
        jump, spare = spare, jump
    raise AssertionError("mix: packing found a cycle among block starts (a bug; please report)")


def _follows_rule(padded: np.ndarray, length: np.ndarray, whole: np.ndarray, seq_len: int) -> bool:
    """Whether every piece starts where the piece-by-piece packing rule puts it, given the one before."""
    if not len(padded) or padded[0] != 0:
        return not len(padded)
    for lo in range(1, len(padded), CHUNK):
        hi = min(len(padded), lo + CHUNK)
        sl, prev = slice(lo, hi), slice(lo - 1, hi - 1)
        after = padded[prev] + length[prev]  # where piece i starts if not padded
        fill = after % seq_len
        pad = whole[sl] & (fill > 0) & (fill + length[sl] > seq_len)
        if not (padded[sl] == after + np.where(pad, seq_len - fill, 0)).all():
            return False
    return True


def pack(pieces: Pieces, seq_len: int, whole: frozenset[str] = frozenset()) -> tuple[Segments, int]:
    """Pack pieces in order into blocks of seq_len.

    Pieces split at block ends and continue their position ids in the next block, except pieces of
    the `whole` sources (prompt/answer pairs, domain documents): such a piece that does not fit in
    the rest of a block starts the next one, since half a pair is a prompt without answer or an
    answer without question, and half a document states facts without naming whose they are.
    Returns the segments and the number of padding tokens.
    """
    length = pieces.length
    padded = padded_starts(length, np.isin(pieces.source, pieces.codes_of(whole)), seq_len)

    def touched(lo: int) -> np.ndarray:  # blocks each piece of a chunk touches (a zero-length piece none)
        p, n = padded[lo : lo + CHUNK], length[lo : lo + CHUNK].astype(np.int64)
        return np.where(n > 0, (p + n - 1) // seq_len - p // seq_len + 1, 0)

    total = sum(int(touched(lo).sum()) for lo in range(0, len(length), CHUNK))
    n_blocks = int(padded[-1] + length[-1] + seq_len - 1) // seq_len if len(length) else 0
    small = narrow(length)
    segs = Segments(
        pieces.names,
        np.empty(total, _index_dtype(n_blocks)),
        np.empty(total, pieces.source.dtype),
        np.empty(total, np.int64),
        np.empty(total, small),
        np.empty(total, small),
    )
    at = 0
    for lo in range(0, len(length), CHUNK):  # in chunks: the temporaries are a few arrays of CHUNK
        c = touched(lo)
        piece = np.repeat(np.arange(lo, lo + len(c)), c)
        p0 = padded[piece]
        block = p0 // seq_len + np.arange(len(piece)) - np.repeat(np.cumsum(c) - c, c)
        first = np.maximum(p0, block * seq_len)  # segment [first, end) of the padded stream
        end = np.minimum(p0 + length[piece], (block + 1) * seq_len)
        out = slice(at, at + len(piece))
        segs.block[out], segs.source[out] = block, pieces.source[piece]
        segs.start[out], segs.length[out], segs.pos0[out] = pieces.start[piece] + first - p0, end - first, first - p0
        at += len(piece)
    return segs, segs.n_blocks * seq_len - int(length.sum(dtype=np.int64))


def narrow(values: np.ndarray) -> np.dtype:
    """int32 when every value fits, else int64."""
    return np.dtype(np.int32) if not len(values) or int(values.max()) < 2**31 else np.dtype(np.int64)


def row_block_len(lengths) -> int:
    """Block length of a phase of one piece per block: the longest piece, rounded up to a multiple of 8."""
    lengths = np.asarray(lengths)
    return int(-(-int(lengths.max() if len(lengths) else 1) // 8) * 8)


def pack_rows(pieces: Pieces) -> tuple[Segments, int, int]:
    """One piece per block (QA phases: one pair per sequence, so every pair is its own example and an
    epoch has as many sequences as pairs). Returns the segments, the block length (the longest piece,
    rounded up to a multiple of 8) and the padding tokens."""
    n, length = len(pieces), pieces.length
    seq_len = row_block_len(length)
    block = np.arange(n, dtype=_index_dtype(n))
    segs = Segments(pieces.names, block, pieces.source, pieces.start, length, np.zeros(n, narrow(length)))
    return segs, seq_len, n * seq_len - int(length.sum(dtype=np.int64))

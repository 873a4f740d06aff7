"""Dedup and shard order as tasks over hash partitions: the stage's own process holds per task and per
partition a few numbers, never per document.

doc_id is a content hash, so partitioning by its leading bits is at once a hash partition (even sizes;
exact duplicates meet in one partition) and a range partition (every key of partition p sorts before
every key of p + 1): the shards' global (doc_id, source) order is the partitions' orders, concatenated.
Every file below lives in the spill folder, which on a cluster must be storage every node mounts.

    scan, task t      run-t.arrow, sig-t.npy (ingest.process_task) and idx-t.arrow: each kept
                      document's key, source, file, chars and flags, in run order, whose rows per
                      partition bounds-t.npy gives
    exact, part p     partition p's rows from every idx file, sorted; exact duplicates dropped for the
                      lowest key -> alive-p.arrow; with near-dedup, each LSH band's signature columns
                      of the survivors, bucketed by a hash of the band -> band-p-b.npy + bands-p.npy
    band (b, q)       bucket q of band b from every partition: the candidate pairs (equal band rows)
                      that no earlier band yields, confirmed by exact Jaccard -> edges-b-q.npy, with
                      the keys of their documents -> nodes-b-q.arrow
    resolve (1 task)  the key-order decision over every confirmed pair (dedup.resolve_near): its memory
                      grows with the near duplicates, not the corpus -> near-p.arrow per partition
    final, part p     partition p's survivors: kept-p.npy (global ids, shard order), chars-p.npy
    cut (the stage)   shard boundaries, streaming one partition's chars-p.npy at a time

A document's global id is its row in the concatenation of the scan's runs in task order (spill.Spill),
the same id the one-process reference uses, so candidates, decisions and shards do not depend on the
number of partitions, tasks or workers.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from cptpipe.data.dedup import band_pairs, jaccard, lsh_bands, resolve_near, shingle_hashes
from cptpipe.data.documents import Drop, write_shard
from cptpipe.data.drops import REPORT_CAP, DropLog
from cptpipe.data.spill import Spill, SpillTexts, rows_at, sig_path

INDEX_SCHEMA = pa.schema(
    [
        ("key", pa.uint64()),  # doc_id as a number: 16 hex digits sort as the uint64 they spell
        ("source", pa.string()),
        ("file", pa.string()),
        ("n_chars", pa.int64()),
        ("flags", pa.string()),  # quality flags of a kept document under profile curated, comma-joined
    ]
)
# Input bytes per partition (auto): bounds what one partition task holds (~0.7 KB per document). Not
# smaller: every partition reads a slice of every scan task's index, so the shuffle's reads grow as
# scan tasks x partitions (bench/ingest.py projects their cost).
PARTITION_BYTES = 128 << 20
INDEX_BATCH = 4096  # rows per record batch of an index file: the unit a partition task reads
BAND_DOCS = 250_000  # documents per band task at most: bounds its memory (band columns, ids, their sort)
_BAND_MULT = np.array([0x9E3779B97F4A7C15, 0xC2B2AE3D27D4EB4F, 0x165667B19E3779F9, 0x27D4EB2F165667C5], np.uint64)


def auto_partitions(bytes_in: int, workers: int) -> int:
    """One partition per PARTITION_BYTES of input, and at least one per worker."""
    return max(workers, -(-bytes_in // PARTITION_BYTES), 1)


def band_buckets(docs: int, bands: int, workers: int) -> int:
    """Buckets per band: at most BAND_DOCS documents in one, and enough band tasks for every worker."""
    return max(-(-docs // BAND_DOCS), -(-workers // max(bands, 1)), 1)


def partition_of(keys: np.ndarray, parts: int) -> np.ndarray:
    """Partition of each uint64 key: its leading 32 bits scaled to [0, parts); monotone in the key."""
    return ((keys >> np.uint64(32)).astype(np.uint64) * np.uint64(parts) >> np.uint64(32)).astype(np.int64)


def bucket_of(rows: np.ndarray, buckets: int) -> np.ndarray:
    """A hash of each row of band columns (uint32), mod buckets; the same in every process."""
    h = np.zeros(len(rows), np.uint64)
    for j in range(rows.shape[1]):
        h = (h ^ rows[:, j].astype(np.uint64)) * _BAND_MULT[j % len(_BAND_MULT)]
    return (h % np.uint64(buckets)).astype(np.int64)


def sorted_bounds(labels: np.ndarray, n: int) -> np.ndarray:
    """Start of each label 0..n-1 in an array sorted by label, then its length."""
    return np.searchsorted(labels, np.arange(n + 1), side="left").astype(np.int64)


# ---- files -------------------------------------------------------------------------------------


def idx_path(spill: Path, task: int) -> Path:
    return spill / f"idx-{task:06d}.arrow"


def bounds_path(spill: Path, task: int) -> Path:
    return spill / f"bounds-{task:06d}.npy"


def write_index(spill: Path, task: int, records: list[tuple[str, str, str, int, str]], parts: int) -> None:
    """A scan task's index (records in run order: doc_id, source, file, n_chars, flags) and its partition bounds."""
    keys = np.array([int(r[0], 16) for r in records], dtype=np.uint64)
    columns = [pa.array(keys)] + [pa.array([r[k] for r in records], INDEX_SCHEMA.field(k).type) for k in range(1, 5)]
    table = pa.table(columns, schema=INDEX_SCHEMA)
    write_arrow(idx_path(spill, task), table)
    np.save(bounds_path(spill, task), sorted_bounds(partition_of(keys, parts), parts))


def write_arrow(path: Path, table: pa.Table) -> None:
    with pa.ipc.new_file(path, table.schema) as w:
        w.write_table(table, max_chunksize=INDEX_BATCH)


def read_rows(path: Path, lo: int, hi: int) -> pa.Table:
    """Rows lo..hi of a file write_arrow wrote, reading only the record batches that hold them: every
    partition reads a slice of every scan task's index, so reading whole files would cost each
    partition task the size of the whole index."""
    with pa.OSFile(str(path)) as f:
        reader = pa.ipc.open_file(f)
        first, last = lo // INDEX_BATCH, (hi - 1) // INDEX_BATCH
        batches = [reader.get_batch(i) for i in range(first, last + 1)]
    rows = pa.Table.from_batches(batches, reader.schema).slice(lo - first * INDEX_BATCH, hi - lo)
    # a copy of these rows only: a slice keeps its whole batches alive, up to 2 x INDEX_BATCH rows of every
    # scan task, so a partition task's memory grew with the scan tasks, that is with the corpus
    return rows.take(pa.array(np.arange(hi - lo)))


def read_arrow(path: Path) -> pa.Table:
    with pa.memory_map(str(path)) as source:
        return pa.ipc.open_file(source).read_all()


# ---- the passes: each function is one task ------------------------------------------------------


@dataclass(frozen=True)
class Layout:
    """What every task reads: the spill folder's runs and the partition counts (picklable, O(tasks))."""

    spill: Spill
    parts: int  # hash partitions of the documents (exact dedup, shard order)
    exact: bool
    near: float | None
    buckets: int = 1  # buckets per LSH band (near-dedup): one band task each

    @property
    def dir(self) -> Path:
        return self.spill.dir

    @property
    def bands(self) -> list[tuple[int, int]]:
        return lsh_bands(self.near) if self.near is not None else []


@dataclass
class PartResult:
    part: int
    docs: int = 0
    chars: int = 0
    drops: DropLog = field(default_factory=DropLog)
    kept_files: Counter = field(default_factory=Counter)
    flags: Counter = field(default_factory=Counter)  # flag -> kept documents with it
    flagged_files: dict[str, set[str]] = field(default_factory=dict)  # flag -> the REPORT_CAP first files


def exact_task(layout: Layout, part: int) -> PartResult:
    """Partition `part`'s rows from every scan task, sorted by key; exact duplicates dropped (the lowest
    (key, source) of equal texts stays); survivors -> alive-p.arrow and, with near-dedup, band files."""
    pieces = []
    for k, task in enumerate(layout.spill.tasks):
        lo, hi = (int(x) for x in np.load(bounds_path(layout.dir, task), mmap_mode="r")[part : part + 2])
        if hi > lo:
            t = read_rows(idx_path(layout.dir, task), lo, hi)
            gids = np.arange(lo, hi, dtype=np.int64) + layout.spill.starts[k]
            pieces.append(t.append_column("gid", pa.array(gids)))
    result = PartResult(part)
    if not pieces:
        table = INDEX_SCHEMA.empty_table().append_column("gid", pa.array([], pa.int64()))
    else:
        table = pa.concat_tables(pieces).sort_by([("key", "ascending"), ("source", "ascending")])
    if layout.exact and table.num_rows:
        keys = table["key"].to_numpy()
        dup = np.zeros(len(keys), dtype=bool)
        dup[1:] = keys[1:] == keys[:-1]
        first = np.maximum.accumulate(np.where(dup, 0, np.arange(len(keys))))  # the group's lowest (key, source)
        where = np.flatnonzero(dup)
        gone = table.take(where).select(["source", "file", "n_chars"]).to_pylist()  # only the duplicates as objects
        for row, kept in zip(gone, table["source"].take(first[where]).to_pylist()):
            result.drops.add(row["file"], Drop(row["source"], "exact_duplicate", f"kept {kept}", row["n_chars"]))
        table = table.filter(pa.array(~dup))
    write_arrow(layout.dir / f"alive-{part:06d}.arrow", table)
    if layout.near is not None:
        write_bands(layout, part, table["gid"].to_numpy())
    result.drops.trimmed()
    return result


def signature_rows(spill: Spill, gids: np.ndarray, cols: slice = slice(None)) -> np.ndarray:
    """These columns of the MinHash signatures of these global ids (any order), read from the scan's sig files."""
    out = None
    task_of = spill.run_of(gids)
    for k in np.unique(task_of).tolist():
        sel = np.flatnonzero(task_of == k)
        sigs = np.load(sig_path(spill.dir, spill.tasks[k]), mmap_mode="r")
        if out is None:
            out = np.empty((len(gids), sigs[:1, cols].shape[1]), dtype=sigs.dtype)
        out[sel] = sigs[gids[sel] - spill.starts[k], cols]
    return out if out is not None else np.empty((0, 0), dtype=np.uint32)


def write_bands(layout: Layout, part: int, gids: np.ndarray) -> None:
    """Per LSH band: the survivors' band columns with their ids, sorted by bucket (band-p-b.npy), and
    where each bucket starts (bands-p.npy: one row per band). Reads one band's columns at a time."""
    bounds = []
    for b, (lo, hi) in enumerate(layout.bands):
        rows = signature_rows(layout.spill, gids, slice(lo, hi)) if len(gids) else np.empty((0, hi - lo), np.uint32)
        bucket = bucket_of(rows, layout.buckets)
        order = np.argsort(bucket, kind="stable")
        rec = np.empty(len(gids), dtype=[("gid", "<i8"), ("band", "<u4", (hi - lo,))])
        rec["gid"], rec["band"] = gids[order], rows[order]
        np.save(layout.dir / f"band-{part:06d}-{b:03d}.npy", rec)
        bounds.append(sorted_bounds(bucket[order], layout.buckets))
    np.save(layout.dir / f"bands-{part:06d}.npy", np.stack(bounds) if bounds else np.zeros((0, layout.buckets + 1)))


def band_task(layout: Layout, job: tuple[int, int]) -> tuple[int, int]:
    """Bucket q of band b from every partition: its candidate pairs (equal band rows), less those an earlier
    band already yields (every pair is confirmed once, by the first band it shares), confirmed by exact
    shingle Jaccard -> edges-b-q.npy and the keys of their documents -> nodes-b-q.arrow. Returns the
    numbers of candidates and edges."""
    b, q = job
    recs = []
    for part in range(layout.parts):
        lo, hi = (int(x) for x in np.load(layout.dir / f"bands-{part:06d}.npy", mmap_mode="r")[b, q : q + 2])
        if hi > lo:
            recs.append(np.load(layout.dir / f"band-{part:06d}-{b:03d}.npy", mmap_mode="r")[lo:hi])
    if not recs:
        return 0, 0
    rec = np.concatenate(recs)
    pairs = band_pairs(np.ascontiguousarray(rec["band"]), np.ascontiguousarray(rec["gid"]))
    if len(pairs) and b:
        nodes, inverse = np.unique(pairs, return_inverse=True)
        sigs = signature_rows(layout.spill, nodes)
        ends = inverse.reshape(-1, 2)
        a, c = sigs[ends[:, 0]], sigs[ends[:, 1]]
        seen = np.zeros(len(pairs), dtype=bool)
        for lo, hi in layout.bands[:b]:
            seen |= (a[:, lo:hi] == c[:, lo:hi]).all(axis=1)
        pairs = pairs[~seen]
    candidates = len(pairs)
    text = SpillTexts(layout.spill)

    @lru_cache(maxsize=4096)
    def shingles(i: int) -> np.ndarray:
        return shingle_hashes(text(i))

    keep = np.array([jaccard(shingles(x), shingles(y)) >= layout.near for x, y in pairs.tolist()], dtype=bool)
    edges = pairs[keep] if candidates else pairs
    if len(edges):
        nodes = np.unique(edges).tolist()
        rows = rows_at(layout.dir, layout.spill.locate_all(np.asarray(nodes, dtype=np.int64)))
        np.save(layout.dir / f"edges-{b:03d}-{q:06d}.npy", edges.astype(np.int64))
        write_arrow(
            layout.dir / f"nodes-{b:03d}-{q:06d}.arrow",
            pa.table(
                {
                    "gid": pa.array(nodes, pa.int64()),
                    "doc_id": pa.array([x["doc_id"] for x in rows], pa.string()),
                    "source": pa.array([x["source"] for x in rows], pa.string()),
                }
            ),
        )
    return candidates, len(edges)


def resolve_task(layout: Layout, _job: int) -> int:
    """The key-order decision over all confirmed pairs; each partition's drops -> near-p.arrow. Returns their number."""
    found = sorted(layout.dir.glob("edges-*.npy"))
    edges = np.concatenate([np.load(f) for f in found]) if found else np.empty((0, 2), dtype=np.int64)
    keys: dict[int, tuple[str, str]] = {}
    for f in found:
        nodes = read_arrow(f.with_name(f.name.replace("edges-", "nodes-")).with_suffix(".arrow")).to_pydict()
        keys.update(zip(nodes["gid"], zip(nodes["doc_id"], nodes["source"])))
    dropped = resolve_near(keys, edges.reshape(-1, 2))
    by_part: dict[int, list[tuple[int, str]]] = {}
    for i, k in dropped.items():
        part = int(partition_of(np.array([int(keys[i][0], 16)], np.uint64), layout.parts)[0])
        by_part.setdefault(part, []).append((i, keys[k][1]))
    for part, drops in by_part.items():
        gid, kept = zip(*sorted(drops))
        write_arrow(
            layout.dir / f"near-{part:06d}.arrow",
            pa.table({"gid": pa.array(gid, pa.int64()), "kept": pa.array(kept, pa.string())}),
        )
    return len(dropped)


def final_task(layout: Layout, part: int) -> PartResult:
    """Partition `part`'s survivors of both dedup steps, in shard order: kept-p.npy (global ids) and
    chars-p.npy; the counts the report needs."""
    table = read_arrow(layout.dir / f"alive-{part:06d}.arrow")
    result = PartResult(part)
    near = layout.dir / f"near-{part:06d}.arrow"
    if near.exists():
        dropped = read_arrow(near)
        gone = pc.is_in(table["gid"], value_set=dropped["gid"])
        kept_source = dict(zip(dropped["gid"].to_pylist(), dropped["kept"].to_pylist()))
        for row in table.filter(gone).to_pylist():
            detail = f"kept {kept_source[row['gid']]}"
            result.drops.add(row["file"], Drop(row["source"], "near_duplicate", detail, row["n_chars"]))
        table = table.filter(pc.invert(gone))
    np.save(layout.dir / f"kept-{part:06d}.npy", table["gid"].to_numpy())
    chars = table["n_chars"].to_numpy()
    np.save(layout.dir / f"chars-{part:06d}.npy", chars)
    result.docs, result.chars = table.num_rows, int(chars.sum())
    result.kept_files = Counter(table["file"].to_pylist())
    for f, flags in zip(table["file"].to_pylist(), table["flags"].to_pylist()):
        for flag in flags.split(",") if flags else ():
            result.flags[flag] += 1
            result.flagged_files.setdefault(flag, set()).add(f)
    result.flagged_files = {g: set(sorted(fs)[:REPORT_CAP]) for g, fs in result.flagged_files.items()}
    result.drops.trimmed()
    return result


# ---- the cut: the one serial step, streaming -----------------------------------------------------


def cut_shards(layout: Layout, shard_docs: int, shard_bytes: int) -> Iterator[list[tuple[int, int, int]]]:
    """Each shard as (partition, lo, hi) ranges of kept-p.npy; reads one partition's chars at a time."""
    chars = (np.load(layout.dir / f"chars-{p:06d}.npy") for p in range(layout.parts))
    return shard_cuts(chars, shard_docs, shard_bytes)


def shard_cuts(parts: Iterable[np.ndarray], shard_docs: int, shard_bytes: int) -> Iterator[list[tuple[int, int, int]]]:
    """Shards over the concatenated rows of these per-partition text lengths, cut where a sequential
    writer would: a shard closes before the row that would follow shard_docs documents or shard_bytes
    of text. Each shard as (partition, lo, hi) ranges; one search per shard, not a step per document."""
    segments: list[tuple[int, int, int]] = []
    n = nbytes = 0  # the open shard's documents and text so far
    for part, chars in enumerate(parts):
        cum = np.concatenate([[0], np.cumsum(chars, dtype=np.int64)])
        m, lo = len(chars), 0
        while lo < m:
            first = lo if n else lo + 1  # a shard never closes empty
            by_docs = lo + max(shard_docs - n, 0)
            by_bytes = int(np.searchsorted(cum, shard_bytes - nbytes + cum[lo], side="left"))
            close = max(first, min(by_docs, by_bytes))
            if close >= m:  # the shard stays open past this partition
                n, nbytes = n + m - lo, nbytes + int(cum[m] - cum[lo])
                segments.append((part, lo, m))
                break
            if close > lo:
                segments.append((part, lo, close))
            yield segments
            segments, n, nbytes, lo = [], 0, 0, close
    if n:
        yield segments


def write_shard_task(shared: tuple[Layout, Path], job: tuple[str, list[tuple[int, int, int]]]) -> tuple[dict, Counter]:
    """Write one shard from its (partition, lo, hi) ranges of kept ids (a task); its manifest entry and splits."""
    layout, out_dir = shared
    name, segments = job
    gids = np.concatenate([np.load(layout.dir / f"kept-{p:06d}.npy", mmap_mode="r")[lo:hi] for p, lo, hi in segments])
    rows = rows_at(layout.dir, layout.spill.locate_all(gids))
    return write_shard(rows, out_dir / name), Counter(r["split"] for r in rows)

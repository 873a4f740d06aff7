"""The ingest stage: data/raw -> normalized, filtered, deduplicated Parquet shards + manifest.

Passes of tasks on the engine (ingest.engine: local cores or Ray, data/engine.py); the stage's own
process holds a few numbers per task and per partition, never the corpus, its index or its signatures:
1. scan: read each file or piece of a big file and run each document through the steps
   (cptpipe.data.steps.DOC_STEPS: normalize, filters); each task spills the rows of its survivors as
   one sorted Arrow run file, their MinHash signatures and their index beside it (data/spill.py,
   data/partitions.py), and returns its row count and its log of drops (bounded, data/drops.py).
2. dedup, partitioned by content hash (data/partitions.py): exact duplicates per partition, near
   duplicates per LSH band and bucket, confirmed per pair bucket; the kept copy is always the lowest
   (doc_id, source).
3. write: shards cut in (doc_id, source) order, streaming one partition at a time, each written by a task.
Every step depends only on the set of inputs and every task's results are sorted before use, so the
shards are byte-identical between runs, engines, and any number of workers or partitions.
"""

from __future__ import annotations

import json
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from cptpipe.data.dedup import shingle_hashes, signature
from cptpipe.data.documents import (
    Doc,
    Drop,
    doc_id_of,
    normalize_text,
    run_path,
    split_key,
    split_of,
    title_of,
    write_run,
)
from cptpipe.data.drops import REPORT_CAP, STRICT_REASONS, DropLog, drop_alarm, format_alarm
from cptpipe.data.engine import LocalEngine, RayEngine, open_engine
from cptpipe.data.inputs import list_inputs, select_files
from cptpipe.data.partitions import (
    Layout,
    PartResult,
    auto_partitions,
    band_buckets,
    band_task,
    cut_shards,
    exact_task,
    final_task,
    resolve_task,
    write_index,
    write_shard_task,
)
from cptpipe.data.readers import Piece, file_size, plan_pieces, read_piece
from cptpipe.data.sections import section_spans
from cptpipe.data.spill import Spill, sig_path
from cptpipe.data.steps import DOC_STEPS, Step, run_steps
from cptpipe.errors import UserError
from cptpipe.params import IngestParams
from cptpipe.progress import bar

PIECE_BYTES = 32 << 20  # big JSONL/Parquet files are split into pieces of about this size
TASK_BYTES = 16 << 20  # small files are grouped into tasks of up to this size (one spill run each)
INLINE_BYTES = 4 << 20  # below this a local worker pool costs more (process start-up) than it saves
# Input (scan, shards) or documents (dedup passes) per task below which local workers run many tasks
# each, not a fresh process per task: what a worker keeps between tasks matters only where it grows with
# the corpus, and a big corpus has big tasks (TASK_BYTES, PARTITION_BYTES, BAND_DOCS); tiny tasks (many
# partitions of a small corpus) would pay ~50 ms of process start each.
LIGHT_BYTES = 8 << 20
LIGHT_DOCS = 10_000


def plan_tasks(files: list[Path], raw_dir: Path, task_bytes: int, piece_bytes: int = PIECE_BYTES) -> list[list[Piece]]:
    """Group files (and pieces of big files) into tasks of about task_bytes, in file order."""
    tasks, current, size = [], [], 0
    for path in files:
        for piece in plan_pieces(path, path.relative_to(raw_dir).as_posix(), piece_bytes):
            if current and size + piece.size > task_bytes:
                tasks.append(current)
                current, size = [], 0
            current.append(piece)
            size += piece.size
    if current:
        tasks.append(current)
    return tasks


# ---- scan: one task in a worker ----------------------------------------------------------------


@dataclass
class TaskResult:
    index: int
    rows: int = 0  # documents kept by the steps (rows of its spill run)
    drops: DropLog = field(default_factory=DropLog)
    docs_read: int = 0
    unread: int = 0  # inputs the reader dropped before a document existed


ScanShared = tuple[IngestParams, int, Path, Sequence[Step], int]  # params, seed, spill folder, steps, partitions


def process_task(shared: ScanShared, job: tuple[int, list[Piece]]) -> TaskResult:
    """Read every document of a task and run it through the steps; spill the kept rows as one sorted
    run, their signatures and their index beside it."""
    index, pieces = job
    params, seed, spill_dir, steps, parts = shared
    near = params.dedup.near is not None
    result, rows, sigs, records = TaskResult(index), [], [], []
    for piece in pieces:
        for doc in read_piece(piece, params.text_field, params.max_file_mb << 20):
            if isinstance(doc, Drop):  # the reader's own drop (unreadable, malformed): one input not read
                result.unread += 1
                result.drops.add(piece.rel, doc)
                continue
            result.docs_read += 1
            drop = run_steps(doc, steps, params)
            if drop is not None:
                result.drops.add(piece.rel, drop)
                continue
            row, sig = to_row(doc, params, seed, want_signature=near)
            rows.append(row)
            records.append((row["doc_id"], row["source"], piece.rel, row["n_chars"], ",".join(doc.flags)))
            sigs.append(sig)
    if rows:
        order = sorted(range(len(rows)), key=lambda i: (rows[i]["doc_id"], rows[i]["source"]))
        write_run(run_path(spill_dir, index), [rows[i] for i in order])
        write_index(spill_dir, index, [records[i] for i in order], parts)
        if near:
            np.save(sig_path(spill_dir, index), np.stack([sigs[i] for i in order]))
    result.rows = len(rows)
    result.drops.trimmed()
    return result


def to_row(doc: Doc, params: IngestParams, seed: int, want_signature: bool = False) -> tuple[dict, np.ndarray | None]:
    """The row of a document that passed every step (and its MinHash signature)."""
    text = doc.text
    doc_id = doc_id_of(text)
    meta = dict(doc.metadata)
    if doc.flags:  # kept under profile curated; the report counts them and profile web would drop them
        meta["quality_flags"] = doc.flags
    sections = section_spans(text, doc_id, params.section_chars, params.heldout_docs, seed)
    if sections:
        meta["sections"] = sections
    stem = Path(doc.source.rsplit(":", 1)[0]).stem  # "big.jsonl:12" -> "big"
    row = {
        "doc_id": doc_id,
        "source": doc.source,
        "title": normalize_text(doc.title) if doc.title else title_of(text, stem),
        "text": text,
        "n_chars": len(text),
        "split": split_of(split_key(text, doc_id), params.heldout_docs, seed),
        "metadata": json.dumps(meta, sort_keys=True, default=str),
    }
    return row, signature(shingle_hashes(text, hashes=doc.hashes)) if want_signature else None


def scan(
    raw_dir: Path,
    files: list[Path],
    params: IngestParams,
    seed: int,
    spill_dir: Path,
    steps: Sequence[Step],
    engine: LocalEngine | RayEngine,
    parts: int,
    log: DropLog,
) -> list[TaskResult]:
    """Run every task on the engine, merging its drops into `log`; results (without drops) in task order."""
    total = sum(file_size(p) for p in files)
    task_bytes = max(1 << 20, min(TASK_BYTES, total // (4 * engine.workers) + 1))  # >= 4 tasks per worker
    tasks = plan_tasks(files, raw_dir, task_bytes)
    # biggest tasks first, so the last one to finish is small and no core idles at the end
    jobs = sorted(enumerate(tasks), key=lambda j: -sum(p.size for p in j[1]))
    results: list[TaskResult] = []
    progress = bar(total=total, desc="ingest", unit="B", unit_scale=True)
    try:
        shared = (params, seed, spill_dir, steps, parts)
        for res in engine.map(process_task, shared, jobs, small=total < INLINE_BYTES, light=task_bytes < LIGHT_BYTES):
            log.merge(res.drops)
            res.drops = DropLog()
            results.append(res)
            progress.update(sum(p.size for p in tasks[res.index]))
    finally:
        progress.close()
    return sorted(results, key=lambda r: r.index)


# ---- dedup: passes over partitions (data/partitions.py) ----------------------------------------


@dataclass
class Kept:
    """What the dedup passes kept, summed over partitions; the shards are cut from the partitions' files."""

    layout: Layout
    docs: int = 0
    chars: int = 0
    files: Counter = field(default_factory=Counter)  # input file -> kept documents
    flags: Counter = field(default_factory=Counter)
    flagged_files: dict[str, set[str]] = field(default_factory=dict)

    def add(self, part: PartResult) -> None:
        self.docs += part.docs
        self.chars += part.chars
        self.files.update(part.kept_files)
        self.flags.update(part.flags)
        for flag, fs in part.flagged_files.items():
            merged = self.flagged_files.get(flag, set()) | fs
            self.flagged_files[flag] = set(sorted(merged)[:REPORT_CAP])


def run_pass(
    engine: LocalEngine | RayEngine, fn, layout: Layout, jobs: list, small: bool, desc: str, light: bool = False
) -> list:
    progress = bar(total=len(jobs), desc=desc, unit="task")
    out = []
    try:
        for res in engine.map(fn, layout, jobs, small, light):
            out.append(res)
            progress.update()
    finally:
        progress.close()
    return out


def dedup(layout: Layout, engine: LocalEngine | RayEngine, small: bool, log: DropLog) -> Kept:
    """Exact, then near duplicates (each step sees the survivors of the one before); the kept documents."""
    parts = list(range(layout.parts))
    docs = layout.spill.starts[-1]
    light = docs < LIGHT_DOCS * layout.parts
    for res in run_pass(engine, exact_task, layout, parts, small, "dedup exact", light=light):
        log.merge(res.drops)
    if layout.near is not None:
        jobs = [(b, q) for b in range(len(layout.bands)) for q in range(layout.buckets)]
        run_pass(engine, band_task, layout, jobs, small, "dedup near: bands", light=docs < LIGHT_DOCS * layout.buckets)
        run_pass(engine, resolve_task, layout, [0], small, "dedup near: resolve")
    kept = Kept(layout)
    for res in run_pass(engine, final_task, layout, parts, small, "dedup kept", light=light):
        log.merge(res.drops)
        kept.add(res)
    return kept


def write_all_shards(kept: Kept, out_dir: Path, params: IngestParams, engine: LocalEngine | RayEngine) -> dict:
    """Cut the kept documents into shards (shard_docs / shard_mb) and write each as a task; the manifest."""
    cuts = cut_shards(kept.layout, params.shard_docs, params.shard_mb << 20)
    jobs = [(f"shard-{k:05d}.parquet", segments) for k, segments in enumerate(cuts)]
    small, light = kept.chars < INLINE_BYTES, kept.chars < LIGHT_BYTES * len(jobs)
    done = run_pass(engine, write_shard_task, (kept.layout, out_dir), jobs, small, "shards", light=light)  # type: ignore[arg-type]
    done.sort(key=lambda d: d[0]["file"])
    splits: Counter = Counter()
    for _, shard_splits in done:
        splits.update(shard_splits)
    shards = [entry for entry, _ in done]
    return {"docs": kept.docs, "chars": kept.chars, "splits": dict(splits), "shards": shards}


# ---- the stage ---------------------------------------------------------------------------------


def ingest(
    raw_dir: Path,
    params: IngestParams,
    seed: int,
    work_dir: Path,
    engine: LocalEngine | RayEngine,
    steps: Sequence[Step] = DOC_STEPS,
) -> tuple[Kept, dict]:
    """Scan and deduplicate; return what was kept (its files in work_dir) and the report (no timings)."""
    files, list_drops = list_inputs(raw_dir)
    files, not_included = select_files(files, raw_dir, params.include)
    bytes_in = sum(file_size(p) for p in files)
    parts = params.partitions or auto_partitions(bytes_in, engine.workers)
    log = DropLog.of((d.source, d) for d in list_drops)
    results = scan(raw_dir, files, params, seed, work_dir, steps, engine, parts, log)
    if params.strict:  # before dedup: no point deduplicating a corpus the user must fix first
        check_strict(log)
    with_rows = [res for res in results if res.rows]
    starts = np.cumsum([0] + [res.rows for res in with_rows]).tolist()
    spill = Spill(work_dir, tuple(res.index for res in with_rows), tuple(starts))
    layout = Layout(spill, parts, params.dedup.exact, params.dedup.near)
    layout = replace(layout, buckets=band_buckets(spill.starts[-1], len(layout.bands), engine.workers))
    kept = dedup(layout, engine, bytes_in < INLINE_BYTES, log)
    report = make_report(
        files, len(list_drops), log, kept.files, kept.docs, sum(res.docs_read + res.unread for res in results)
    )
    report["bytes_in"] = bytes_in
    report["profile"] = params.profile
    report["flagged"] = dict(sorted(kept.flags.items()))
    report["flagged_files"] = {flag: sorted(kept.flagged_files[flag]) for flag in report["flagged"]}
    alarm = drop_alarm(log, kept.docs, kept.chars, params.max_drop_share)
    report = {"drop_alarm": alarm, **report} if alarm else report  # at the top: the first thing a reader sees
    if params.include is not None:
        report["not_included"] = not_included
    return kept, report


def check_strict(log: DropLog) -> None:
    n = log.count(STRICT_REASONS)
    if n:
        bad = sorted(log.shown(STRICT_REASONS), key=lambda d: d.source)
        listing = "\n".join(f"  - {d.source}: {d.reason}" + (f" ({d.detail})" if d.detail else "") for d in bad[:20])
        more = f"\n  ... and {n - 20} more" if n > 20 else ""
        raise UserError(
            f"ingest.strict is true and {n} input(s) could not be read:\n{listing}{more}\n"
            "fix or remove these files, or set ingest.strict: false to drop them "
            "(each is then listed in reports/ingest.json)"
        )


def make_report(
    files: list[Path],
    n_list_drops: int,
    log: DropLog,
    kept_files: Counter,
    docs_kept: int,
    records_seen: int,
) -> dict:
    """Counts per reason, and for every input file how many of its documents went where."""
    per_file = {f: Counter(c) for f, c in log.per_file.items()}
    for f, n in kept_files.items():
        per_file.setdefault(f, Counter())["kept"] += n
    left_out = {r: n - REPORT_CAP for r, n in log.counts.items() if n > REPORT_CAP}
    return {
        "files_seen": len(files) + n_list_drops,
        "records_seen": records_seen,
        "docs_kept": docs_kept,
        "dropped": {r: n for r, n in sorted(log.counts.items()) if n},
        "duplicates": {"exact": log.counts["exact_duplicate"], "near": log.counts["near_duplicate"]},
        "dropped_files": {r: sorted(fs)[:REPORT_CAP] for r, fs in sorted(log.files.items()) if fs},
        "files": {f: dict(sorted(c.items())) for f, c in sorted(per_file.items())},
        "drops": sorted((vars(d) for d in log.shown()), key=lambda d: (d["source"], d["reason"])),
        **({"drops_left_out": left_out} if left_out else {}),
    }


def build_documents(
    raw_dir: Path, params: IngestParams, seed: int, steps: Sequence[Step] = DOC_STEPS
) -> tuple[list[dict], dict]:
    """All kept rows in memory, and the report: for tests and small corpora."""
    with tempfile.TemporaryDirectory(prefix="cptpipe-ingest-") as work, open_engine(params) as engine:
        spill, out = Path(work) / "spill", Path(work) / "shards"
        spill.mkdir()
        out.mkdir()
        kept, report = ingest(raw_dir, params, seed, spill, engine, steps)
        manifest = write_all_shards(kept, out, params, engine)
        rows = [r for s in manifest["shards"] for r in pq.read_table(out / s["file"]).to_pylist()]
    report["splits"] = manifest["splits"]
    return rows, report


def run_ingest(raw_dir: Path, out_dir: Path, params: IngestParams, seed: int) -> dict:
    """Build documents and write shards + manifest.json into out_dir; return the stage report."""
    t0 = time.time()
    if not raw_dir.is_dir():
        raise UserError(f"{raw_dir}: no such folder; put domain documents in data/raw/")
    # spill runs live beside out_dir (same disk), never inside it: out_dir is the DVC output
    with tempfile.TemporaryDirectory(prefix=".ingest-work-", dir=out_dir.parent) as work, open_engine(params) as engine:
        kept, report = ingest(raw_dir, params, seed, Path(work), engine)
        if report.get("drop_alarm") and params.fail_on_drop:  # before writing: nothing half-done to clean up
            raise UserError(
                format_alarm(report["drop_alarm"]) + "\ningest.fail_on_drop is true, so the stage stops; "
                "change the keys above, or set ingest.fail_on_drop: false to go on with the kept documents"
            )
        if not kept.docs:
            raise UserError(
                f"{raw_dir}: no document survived ingest (dropped: {report['dropped']}); "
                "check ingest.min_chars, ingest.filters and the input formats"
            )
        manifest = write_all_shards(kept, out_dir, params, engine)
        workers, tasks = engine.workers, {name: peak.as_dict() for name, peak in engine.peaks.items()}
    (out_dir / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    report["splits"] = manifest["splits"]
    report["bytes_out"] = sum(s["bytes"] for s in manifest["shards"])
    report["seconds"] = round(time.time() - t0, 2)
    report["mb_per_s"] = round(report["bytes_in"] / 1e6 / max(report["seconds"], 1e-9), 2)
    # how it ran, like seconds: not what it made. tasks: per task function, the largest one's peak RSS
    report["engine"] = {"name": params.engine, "workers": workers, "tasks": tasks}
    return report

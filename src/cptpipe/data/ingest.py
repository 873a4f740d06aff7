"""The ingest stage: data/raw -> normalized, filtered, deduplicated Parquet shards + manifest.

Three passes, memory bounded by the index of documents (~0.6 KB each), never by the corpus:
1. scan (parallel, one process per core): read each file or piece of a big file and run each
   document through the steps (cptpipe.data.steps.DOC_STEPS: normalize, filters); each task
   spills the rows of its survivors as one sorted Arrow run file and returns only (doc_id, source,
   MinHash signature) per document plus its drops.
2. decide (main process): the dedup steps (steps.DEDUP_STEPS: exact duplicates by doc_id, then
   near-duplicates by MinHash LSH in doc_id order); the kept copy is always the lowest (doc_id, source).
3. write: merge the sorted runs, keep the survivors, write shards in doc_id order.
Every step depends only on the set of inputs, so the shards are byte-identical between runs and
for any number of workers.
"""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from cptpipe.data.dedup import NUM_PERM, shingle_hashes, signature
from cptpipe.data.documents import (
    Doc,
    Drop,
    RunTexts,
    doc_id_of,
    merged_rows,
    normalize_text,
    run_path,
    split_key,
    split_of,
    title_of,
    write_run,
    write_shards,
)
from cptpipe.data.drops import drop_alarm, format_alarm
from cptpipe.data.inputs import list_inputs, select_files
from cptpipe.data.readers import Piece, file_size, plan_pieces, read_piece
from cptpipe.data.sections import section_spans
from cptpipe.data.steps import DEDUP_STEPS, DOC_STEPS, Index, Step, run_dedup, run_steps
from cptpipe.errors import UserError
from cptpipe.params import IngestParams
from cptpipe.progress import bar

STRICT_REASONS = {"undecodable", "malformed", "unreadable"}
PIECE_BYTES = 32 << 20  # big JSONL/Parquet files are split into pieces of about this size
TASK_BYTES = 16 << 20  # small files are grouped into tasks of up to this size (one spill run each)
INLINE_BYTES = 4 << 20  # below this a worker pool costs more (process start-up) than it saves
REPORT_CAP = 1000  # drop details listed per reason in reports/ingest.json (all are counted)


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
    records: list[tuple[str, str, str, int]] = field(default_factory=list)  # (doc_id, source, file, n_chars)
    sigs: np.ndarray | None = None  # one MinHash signature row per record; None without near-dedup
    drops: list[tuple[str, Drop]] = field(default_factory=list)  # (file, drop)
    docs_read: int = 0
    unread: int = 0  # inputs the reader dropped before a document existed
    flagged: list[tuple[str, str, str]] = field(default_factory=list)  # (file, source, quality flag), kept docs


_WORKER: dict = {}


def _init_worker(params: IngestParams, seed: int, spill_dir: str, steps: Sequence[Step]) -> None:
    _WORKER.update(params=params, seed=seed, spill_dir=Path(spill_dir), steps=steps)


def process_task(job: tuple[int, list[Piece]]) -> TaskResult:
    """Read every document of a task and run it through the steps; spill the kept rows as one sorted run."""
    index, pieces = job
    params, seed, spill_dir, steps = (_WORKER[k] for k in ("params", "seed", "spill_dir", "steps"))
    near = params.dedup.near is not None
    result, rows, sigs = TaskResult(index), [], []
    for piece in pieces:
        for doc in read_piece(piece, params.text_field, params.max_file_mb << 20):
            if isinstance(doc, Drop):  # the reader's own drop (unreadable, malformed): one input not read
                result.unread += 1
                result.drops.append((piece.rel, doc))
                continue
            result.docs_read += 1
            drop = run_steps(doc, steps, params)
            if drop is not None:
                result.drops.append((piece.rel, drop))
                continue
            row, sig = to_row(doc, params, seed, want_signature=near)
            result.flagged += [(piece.rel, row["source"], f) for f in doc.flags]
            rows.append(row)
            result.records.append((row["doc_id"], row["source"], piece.rel, row["n_chars"]))
            sigs.append(sig)
    if rows:
        order = sorted(range(len(rows)), key=lambda i: (rows[i]["doc_id"], rows[i]["source"]))
        write_run(run_path(spill_dir, index), [rows[i] for i in order])
        result.records = [result.records[i] for i in order]
        result.sigs = np.stack([sigs[i] for i in order]) if near else None
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
    raw_dir: Path, files: list[Path], params: IngestParams, seed: int, spill_dir: Path, steps: Sequence[Step]
) -> list[TaskResult]:
    """Run every task, on all cores when the corpus is big enough; results in task order."""
    total = sum(file_size(p) for p in files)
    workers = min(params.workers or os.cpu_count() or 1, 64)
    task_bytes = max(1 << 20, min(TASK_BYTES, total // (4 * workers) + 1))  # >= 4 tasks per worker
    tasks = plan_tasks(files, raw_dir, task_bytes)
    # biggest tasks first, so the last one to finish is small and no core idles at the end
    jobs = sorted(enumerate(tasks), key=lambda j: -sum(p.size for p in j[1]))
    results: list[TaskResult] = []
    inline = workers == 1 or total < INLINE_BYTES or len(tasks) < 2
    pool = (
        None
        if inline
        else ProcessPoolExecutor(
            min(workers, len(tasks)),
            mp_context=mp.get_context(_start_method()),
            initializer=_init_worker,
            initargs=(params, seed, str(spill_dir), steps),
        )
    )
    progress = bar(total=total, desc="ingest", unit="B", unit_scale=True)
    try:
        if pool is None:
            _init_worker(params, seed, str(spill_dir), steps)
            outcomes: Iterable[TaskResult] = map(process_task, jobs)
        else:
            outcomes = (f.result() for f in as_completed([pool.submit(process_task, j) for j in jobs]))
        for res in outcomes:
            results.append(res)
            progress.update(sum(p.size for p in tasks[res.index]))
    finally:
        progress.close()
        if pool is not None:
            pool.shutdown(cancel_futures=True)
    return sorted(results, key=lambda r: r.index)


def _start_method() -> str:
    # fork where it exists: workers need no re-import of the caller's script (spawn re-runs an
    # unguarded script in every worker). ProcessPoolExecutor, unlike Pool, fails fast instead of
    # respawning workers forever if one dies while starting.
    return "fork" if "fork" in mp.get_all_start_methods() else "spawn"


# ---- decide --------------------------------------------------------------------------


def decide(results: list[TaskResult], params: IngestParams, spill_dir: Path) -> tuple[set[str], list[tuple[str, Drop]]]:
    """Sources of the documents to keep, and a drop (with its file) for each duplicate removed."""
    records = [r for res in results for r in res.records]
    keys = [(doc_id, source) for doc_id, source, _, _ in records]
    sigs = None
    if params.dedup.near is not None and records:
        sigs = np.concatenate([res.sigs for res in results if res.sigs is not None]).reshape(-1, NUM_PERM)
    where = [(res.index, row) for res in results for row in range(len(res.records))]
    texts = RunTexts(spill_dir)
    dropped = run_dedup(Index(keys, sigs, lambda i: texts.text(*where[i])), DEDUP_STEPS, params)
    drops = [
        (records[i][2], Drop(records[i][1], reason, f"kept {records[k][1]}", records[i][3]))
        for i, (reason, k) in sorted(dropped.items())
    ]
    return {keys[i][1] for i in range(len(keys)) if i not in dropped}, drops


# ---- the stage ---------------------------------------------------------------------------------


def ingest(
    raw_dir: Path, params: IngestParams, seed: int, work_dir: Path, steps: Sequence[Step] = DOC_STEPS
) -> tuple[list[Path], set[str], dict]:
    """Scan and decide; return the sorted run files, the kept sources and the report (no timings)."""
    files, list_drops = list_inputs(raw_dir)
    files, not_included = select_files(files, raw_dir, params.include)
    spill = work_dir / "runs"
    spill.mkdir(parents=True, exist_ok=True)
    results = scan(raw_dir, files, params, seed, spill, steps)
    drops = [(d.source, d) for d in list_drops] + [d for res in results for d in res.drops]
    if params.strict:  # before dedup: no point deduplicating a corpus the user must fix first
        check_strict([d for _, d in drops])
    keep, dup_drops = decide(results, params, spill)
    drops += dup_drops
    kept_files = Counter(f for res in results for _, source, f, _ in res.records if source in keep)
    report = make_report(
        files, len(list_drops), drops, kept_files, len(keep), sum(res.docs_read + res.unread for res in results)
    )
    report["bytes_in"] = sum(file_size(p) for p in files)
    report["profile"] = params.profile
    flagged = [(f, flag) for res in results for f, source, flag in res.flagged if source in keep]
    report["flagged"] = dict(sorted(Counter(flag for _, flag in flagged).items()))
    report["flagged_files"] = {
        flag: sorted({f for f, g in flagged if g == flag})[:REPORT_CAP] for flag in report["flagged"]
    }
    kept_chars = sum(n for res in results for _, source, _, n in res.records if source in keep)
    alarm = drop_alarm(drops, len(keep), kept_chars, params.max_drop_share)
    report = {"drop_alarm": alarm, **report} if alarm else report  # at the top: the first thing a reader sees
    if params.include is not None:
        report["not_included"] = not_included
    return sorted(spill.glob("run-*.arrow")), keep, report


def check_strict(drops: list[Drop]) -> None:
    bad = sorted((d for d in drops if d.reason in STRICT_REASONS), key=lambda d: d.source)
    if bad:
        listing = "\n".join(f"  - {d.source}: {d.reason}" + (f" ({d.detail})" if d.detail else "") for d in bad[:20])
        more = f"\n  ... and {len(bad) - 20} more" if len(bad) > 20 else ""
        raise UserError(
            f"ingest.strict is true and {len(bad)} input(s) could not be read:\n{listing}{more}\n"
            "fix or remove these files, or set ingest.strict: false to drop them "
            "(each is then listed in reports/ingest.json)"
        )


def make_report(
    files: list[Path],
    n_list_drops: int,
    drops: list[tuple[str, Drop]],
    kept_files: Counter,
    docs_kept: int,
    records_seen: int,
) -> dict:
    """Counts per reason, and for every input file how many of its documents went where."""
    per_file: dict[str, Counter] = defaultdict(Counter)
    for f, n in kept_files.items():
        per_file[f]["kept"] += n
    by_reason: dict[str, list[Drop]] = defaultdict(list)
    files_by_reason: dict[str, set[str]] = defaultdict(set)
    for f, d in drops:
        per_file[f][d.reason] += 1
        by_reason[d.reason].append(d)
        files_by_reason[d.reason].add(f)
    left_out = {r: len(ds) - REPORT_CAP for r, ds in by_reason.items() if len(ds) > REPORT_CAP}
    details = [vars(d) for r in sorted(by_reason) for d in sorted(by_reason[r], key=_source_order)[:REPORT_CAP]]
    return {
        "files_seen": len(files) + n_list_drops,
        "records_seen": records_seen,
        "docs_kept": docs_kept,
        "dropped": {r: len(ds) for r, ds in sorted(by_reason.items())},
        "duplicates": {
            "exact": len(by_reason.get("exact_duplicate", [])),
            "near": len(by_reason.get("near_duplicate", [])),
        },
        "dropped_files": {r: sorted(fs)[:REPORT_CAP] for r, fs in sorted(files_by_reason.items())},
        "files": {f: dict(sorted(c.items())) for f, c in sorted(per_file.items())},
        "drops": sorted(details, key=lambda d: (d["source"], d["reason"])),
        **({"drops_left_out": left_out} if left_out else {}),
    }


def _source_order(d: Drop) -> tuple[str, int]:
    # "a.jsonl:10" after "a.jsonl:9"
    base, _, num = d.source.rpartition(":")
    return (base, int(num)) if num.isdigit() else (d.source, -1)


def build_documents(
    raw_dir: Path, params: IngestParams, seed: int, steps: Sequence[Step] = DOC_STEPS
) -> tuple[list[dict], dict]:
    """All kept rows in memory, and the report: for tests and small corpora."""
    with tempfile.TemporaryDirectory(prefix="cptpipe-ingest-") as work:
        runs, keep, report = ingest(raw_dir, params, seed, Path(work), steps)
        rows = list(merged_rows(runs, keep))
    report["splits"] = dict(Counter(r["split"] for r in rows))
    return rows, report


def run_ingest(raw_dir: Path, out_dir: Path, params: IngestParams, seed: int) -> dict:
    """Build documents and write shards + manifest.json into out_dir; return the stage report."""
    t0 = time.time()
    if not raw_dir.is_dir():
        raise UserError(f"{raw_dir}: no such folder; put domain documents in data/raw/")
    # spill runs live beside out_dir (same disk), never inside it: out_dir is the DVC output
    with tempfile.TemporaryDirectory(prefix=".ingest-work-", dir=out_dir.parent) as work:
        runs, keep, report = ingest(raw_dir, params, seed, Path(work))
        if report.get("drop_alarm") and params.fail_on_drop:  # before writing: nothing half-done to clean up
            raise UserError(
                format_alarm(report["drop_alarm"]) + "\ningest.fail_on_drop is true, so the stage stops; "
                "change the keys above, or set ingest.fail_on_drop: false to go on with the kept documents"
            )
        if not keep:
            raise UserError(
                f"{raw_dir}: no document survived ingest (dropped: {report['dropped']}); "
                "check ingest.min_chars, ingest.filters and the input formats"
            )
        manifest = write_shards(merged_rows(runs, keep), out_dir, params.shard_docs, params.shard_mb << 20)
    (out_dir / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    report["splits"] = manifest["splits"]
    report["bytes_out"] = sum(s["bytes"] for s in manifest["shards"])
    report["seconds"] = round(time.time() - t0, 2)
    report["mb_per_s"] = round(report["bytes_in"] / 1e6 / max(report["seconds"], 1e-9), 2)
    return report

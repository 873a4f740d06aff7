"""The ingest stage: data/raw -> normalized, filtered, deduplicated Parquet shards + manifest.

Three passes, each a set of tasks on the engine (ingest.engine: local cores or Ray, data/engine.py);
the main process holds only the index of documents (~0.7 KB each), never the corpus or the signatures:
1. scan: read each file or piece of a big file and run each document through the steps
   (cptpipe.data.steps.DOC_STEPS: normalize, filters); each task spills the rows of its survivors as
   one sorted Arrow run file and their MinHash signatures beside it (data/spill.py), and returns
   only (doc_id, source, file, chars) per document plus its drops.
2. decide: the dedup steps (steps.DEDUP_STEPS: exact duplicates by doc_id in this process, then
   near-duplicates per LSH band as tasks); the kept copy is always the lowest (doc_id, source).
3. write: shards cut in (doc_id, source) order, planned here, each written by a task.
Every step depends only on the set of inputs and every task's results are sorted before use, so the
shards are byte-identical between runs, engines and any number of workers.
"""

from __future__ import annotations

import json
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from cptpipe.data.dedup import shingle_hashes, signature
from cptpipe.data.documents import (
    Doc,
    Drop,
    doc_id_of,
    normalize_text,
    run_path,
    shard_sizes,
    split_key,
    split_of,
    title_of,
    write_run,
)
from cptpipe.data.drops import drop_alarm, format_alarm
from cptpipe.data.engine import LocalEngine, RayEngine, open_engine
from cptpipe.data.inputs import list_inputs, select_files
from cptpipe.data.readers import Piece, file_size, plan_pieces, read_piece
from cptpipe.data.sections import section_spans
from cptpipe.data.spill import Spill, SpillSigs, SpillTexts, rows_at, sig_path, write_shard_task
from cptpipe.data.steps import DEDUP_STEPS, DOC_STEPS, Index, Step, run_dedup, run_steps
from cptpipe.errors import UserError
from cptpipe.params import IngestParams
from cptpipe.progress import bar

STRICT_REASONS = {"undecodable", "malformed", "unreadable"}
PIECE_BYTES = 32 << 20  # big JSONL/Parquet files are split into pieces of about this size
TASK_BYTES = 16 << 20  # small files are grouped into tasks of up to this size (one spill run each)
INLINE_BYTES = 4 << 20  # below this a local worker pool costs more (process start-up) than it saves
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
    drops: list[tuple[str, Drop]] = field(default_factory=list)  # (file, drop)
    docs_read: int = 0
    unread: int = 0  # inputs the reader dropped before a document existed
    flagged: list[tuple[str, str, str]] = field(default_factory=list)  # (file, source, quality flag), kept docs


def process_task(shared: tuple[IngestParams, int, Path, Sequence[Step]], job: tuple[int, list[Piece]]) -> TaskResult:
    """Read every document of a task and run it through the steps; spill the kept rows as one sorted
    run and their signatures beside it."""
    index, pieces = job
    params, seed, spill_dir, steps = shared
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
        if near:
            np.save(sig_path(spill_dir, index), np.stack([sigs[i] for i in order]))
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
) -> list[TaskResult]:
    """Run every task on the engine; results in task order."""
    total = sum(file_size(p) for p in files)
    task_bytes = max(1 << 20, min(TASK_BYTES, total // (4 * engine.workers) + 1))  # >= 4 tasks per worker
    tasks = plan_tasks(files, raw_dir, task_bytes)
    # biggest tasks first, so the last one to finish is small and no core idles at the end
    jobs = sorted(enumerate(tasks), key=lambda j: -sum(p.size for p in j[1]))
    results: list[TaskResult] = []
    progress = bar(total=total, desc="ingest", unit="B", unit_scale=True)
    try:
        for res in engine.map(process_task, (params, seed, spill_dir, steps), jobs, small=total < INLINE_BYTES):
            results.append(res)
            progress.update(sum(p.size for p in tasks[res.index]))
    finally:
        progress.close()
    return sorted(results, key=lambda r: r.index)


# ---- decide --------------------------------------------------------------------------


def decide(
    results: list[TaskResult], params: IngestParams, spill_dir: Path, engine: LocalEngine | RayEngine
) -> tuple[list[bool], list[tuple[str, Drop]]]:
    """Whether to keep each record (in results order), and a drop (with its file) for each duplicate removed."""
    records = [r for res in results for r in res.records]
    keys = [(doc_id, source) for doc_id, source, _, _ in records]
    with_rows = [res for res in results if res.records]
    starts = np.cumsum([0] + [len(res.records) for res in with_rows]).tolist()
    spill = Spill(spill_dir, tuple(res.index for res in with_rows), tuple(starts))
    sigs = SpillSigs(spill) if params.dedup.near is not None and records else None
    dropped = run_dedup(Index(keys, sigs, SpillTexts(spill), engine), DEDUP_STEPS, params)
    drops = [
        (records[i][2], Drop(records[i][1], reason, f"kept {records[k][1]}", records[i][3]))
        for i, (reason, k) in sorted(dropped.items())
    ]
    return [i not in dropped for i in range(len(records))], drops


def kept_order(results: list[TaskResult], keep: list[bool]) -> list[tuple[int, int, int]]:
    """(task, row, chars) of every kept document in (doc_id, source) order: the order of the shards."""
    positions = [(r[0], r[1], res.index, row, r[3]) for res in results for row, r in enumerate(res.records)]
    return [(t, row, n) for (_, _, t, row, n), k in sorted(zip(positions, keep)) if k]


def write_all_shards(
    kept: list[tuple[int, int, int]],
    spill_dir: Path,
    out_dir: Path,
    params: IngestParams,
    engine: LocalEngine | RayEngine,
) -> dict:
    """Cut the kept documents into shards (shard_docs / shard_mb) and write each as a task; the manifest."""
    jobs, start = [], 0
    for k, size in enumerate(shard_sizes((n for _, _, n in kept), params.shard_docs, params.shard_mb << 20)):
        jobs.append((f"shard-{k:05d}.parquet", [(t, row) for t, row, _ in kept[start : start + size]]))
        start += size
    small = sum(n for _, _, n in kept) < INLINE_BYTES
    done = sorted(engine.map(write_shard_task, (spill_dir, out_dir), jobs, small), key=lambda d: d[0]["file"])
    splits: Counter = Counter()
    for _, shard_splits, _ in done:
        splits.update(shard_splits)
    shards = [entry for entry, _, _ in done]
    chars = sum(c for _, _, c in done)
    return {"docs": sum(s["docs"] for s in shards), "chars": chars, "splits": dict(splits), "shards": shards}


# ---- the stage ---------------------------------------------------------------------------------


def ingest(
    raw_dir: Path,
    params: IngestParams,
    seed: int,
    work_dir: Path,
    engine: LocalEngine | RayEngine,
    steps: Sequence[Step] = DOC_STEPS,
) -> tuple[list[tuple[int, int, int]], dict]:
    """Scan and decide; return the kept documents' (task, row, chars) in shard order and the report (no timings)."""
    files, list_drops = list_inputs(raw_dir)
    files, not_included = select_files(files, raw_dir, params.include)
    results = scan(raw_dir, files, params, seed, work_dir, steps, engine)
    drops = [(d.source, d) for d in list_drops] + [d for res in results for d in res.drops]
    if params.strict:  # before dedup: no point deduplicating a corpus the user must fix first
        check_strict([d for _, d in drops])
    keep_flags, dup_drops = decide(results, params, work_dir, engine)
    drops += dup_drops
    records = [r for res in results for r in res.records]
    keep = {source for (_, source, _, _), k in zip(records, keep_flags) if k}
    kept_files = Counter(f for _, source, f, _ in records if source in keep)
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
    kept_chars = sum(n for _, source, _, n in records if source in keep)
    alarm = drop_alarm(drops, len(keep), kept_chars, params.max_drop_share)
    report = {"drop_alarm": alarm, **report} if alarm else report  # at the top: the first thing a reader sees
    if params.include is not None:
        report["not_included"] = not_included
    return kept_order(results, keep_flags), report


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
    with tempfile.TemporaryDirectory(prefix="cptpipe-ingest-") as work, open_engine(params) as engine:
        kept, report = ingest(raw_dir, params, seed, Path(work), engine, steps)
        rows = rows_at(Path(work), [(t, row) for t, row, _ in kept])
    report["splits"] = dict(Counter(r["split"] for r in rows))
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
        if not kept:
            raise UserError(
                f"{raw_dir}: no document survived ingest (dropped: {report['dropped']}); "
                "check ingest.min_chars, ingest.filters and the input formats"
            )
        manifest = write_all_shards(kept, Path(work), out_dir, params, engine)
        workers = engine.workers
    (out_dir / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    report["splits"] = manifest["splits"]
    report["bytes_out"] = sum(s["bytes"] for s in manifest["shards"])
    report["seconds"] = round(time.time() - t0, 2)
    report["mb_per_s"] = round(report["bytes_in"] / 1e6 / max(report["seconds"], 1e-9), 2)
    report["engine"] = {"name": params.engine, "workers": workers}  # how it ran, like seconds: not what it made
    return report

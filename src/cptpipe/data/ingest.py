"""The ingest stage: data/raw -> normalized, filtered, deduplicated Arrow shards + manifest."""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections import Counter
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from cptpipe.progress import bar

from cptpipe.data.dedup import near_duplicates
from cptpipe.data.documents import DOC_SCHEMA, doc_id_of, normalize_text, split_of, title_of
from cptpipe.data.filters import apply_filters
from cptpipe.data.readers import Drop, RawDoc, read_file
from cptpipe.errors import UserError
from cptpipe.params import IngestParams

STRICT_REASONS = {"undecodable", "malformed", "unreadable"}


def list_inputs(raw_dir: Path) -> tuple[list[Path], list[Drop]]:
    """Files under raw_dir in sorted order; symlinks leaving raw_dir or dangling are drops."""
    files, drops = [], []
    root = raw_dir.resolve()
    for dirpath, dirnames, filenames in os.walk(raw_dir, followlinks=False):
        dirnames.sort()
        for name in sorted(filenames):
            p = Path(dirpath) / name
            rel = p.relative_to(raw_dir).as_posix()
            if name.startswith(".") or name == "README.md" and Path(dirpath) == raw_dir:
                continue
            if p.is_symlink():
                target = p.resolve()
                if not target.exists():
                    drops.append(Drop(rel, "broken_symlink"))
                    continue
                if root not in target.parents:
                    drops.append(Drop(rel, "symlink_outside"))
                    continue
            files.append(p)
    return files, drops


def build_documents(raw_dir: Path, params: IngestParams, seed: int) -> tuple[list[dict], dict]:
    """Read, normalize, filter and deduplicate every input; return rows and the drop report."""
    files, drops = list_inputs(raw_dir)
    reasons: Counter = Counter(d.reason for d in drops)
    details = [vars(d) for d in drops]
    bytes_in = 0
    by_id: dict[str, dict] = {}
    exact_dups = 0
    for path in bar(files, desc="ingest: read", unit="file"):
        rel = path.relative_to(raw_dir).as_posix()
        try:
            bytes_in += path.stat().st_size
        except OSError:
            pass
        for item in read_file(path, rel, params.text_field):
            if isinstance(item, Drop):
                reasons[item.reason] += 1
                details.append(vars(item))
                continue
            row = _to_row(item, params, seed)
            if isinstance(row, Drop):
                reasons[row.reason] += 1
                details.append(vars(row))
                continue
            if row["doc_id"] in by_id:
                if params.dedup.exact:
                    exact_dups += 1
                    reasons["exact_duplicate"] += 1
                    details.append({"source": row["source"], "reason": "exact_duplicate",
                                    "detail": by_id[row["doc_id"]]["source"]})
                    continue
            # lowest source wins among identical texts so the kept copy is deterministic
            by_id[row["doc_id"]] = row
    near = {}
    if params.dedup.near is not None and by_id:
        near = near_duplicates([(k, r["text"]) for k, r in by_id.items()], params.dedup.near)
        for doc_id, kept in sorted(near.items()):
            reasons["near_duplicate"] += 1
            details.append({"source": by_id[doc_id]["source"], "reason": "near_duplicate",
                            "detail": by_id[kept]["source"]})
            del by_id[doc_id]
    if params.strict:
        bad = [d for d in details if d["reason"] in STRICT_REASONS]
        if bad:
            listing = "; ".join(f"{d['source']} ({d['reason']})" for d in bad[:20])
            raise UserError(f"ingest.strict is true and {len(bad)} input(s) failed: {listing}")
    rows = sorted(by_id.values(), key=lambda r: r["doc_id"])
    report = {
        "files_seen": len(files) + sum(1 for d in drops),
        "docs_kept": len(rows),
        "dropped": dict(sorted(reasons.items())),
        "duplicates": {"exact": exact_dups, "near": len(near)},
        "splits": dict(Counter(r["split"] for r in rows)),
        "bytes_in": bytes_in,
        "drops": sorted(details, key=lambda d: (d["source"], d["reason"])),
    }
    return rows, report


def _to_row(doc: RawDoc, params: IngestParams, seed: int) -> dict | Drop:
    text = normalize_text(doc.text)
    keep, reason = apply_filters(text, min_chars=params.min_chars, max_chars=params.max_chars)
    if not keep:
        return Drop(doc.source, reason)
    doc_id = doc_id_of(text)
    stem = Path(doc.source.split(":")[0]).stem
    return {
        "doc_id": doc_id,
        "source": doc.source,
        "title": normalize_text(doc.title) if doc.title else title_of(text, stem),
        "text": text,
        "n_chars": len(text),
        "split": split_of(doc_id, params.heldout_docs, seed),
        "metadata": json.dumps(doc.metadata, sort_keys=True, default=str),
    }


def write_shards(rows: list[dict], out_dir: Path, shard_docs: int) -> dict:
    """Write rows into parquet shards of at most shard_docs documents; return the manifest."""
    shards = []
    for i in range(0, max(len(rows), 1), shard_docs):
        chunk = rows[i:i + shard_docs]
        table = pa.Table.from_pylist(chunk, schema=DOC_SCHEMA)
        name = f"shard-{i // shard_docs:05d}.parquet"
        # no statistics/timestamps that vary between runs: identical inputs -> identical bytes
        pq.write_table(table, out_dir / name, compression="zstd")
        digest = hashlib.md5((out_dir / name).read_bytes()).hexdigest()
        shards.append({"file": name, "docs": len(chunk), "bytes": (out_dir / name).stat().st_size, "md5": digest})
    return {
        "docs": len(rows),
        "chars": sum(r["n_chars"] for r in rows),
        "splits": dict(Counter(r["split"] for r in rows)),
        "shards": shards,
    }


def run_ingest(raw_dir: Path, out_dir: Path, params: IngestParams, seed: int) -> dict:
    """Build documents and write shards + manifest.json into out_dir; return the stage report."""
    t0 = time.time()
    if not raw_dir.is_dir():
        raise UserError(f"{raw_dir}: no such folder; put domain documents in data/raw/")
    rows, report = build_documents(raw_dir, params, seed)
    if not rows:
        raise UserError(f"{raw_dir}: no document survived ingest (dropped: {report['dropped']}); "
                        "check ingest.min_chars and the input formats")
    manifest = write_shards(rows, out_dir, params.shard_docs)
    (out_dir / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    report["bytes_out"] = sum(s["bytes"] for s in manifest["shards"])
    report["seconds"] = round(time.time() - t0, 2)
    return report


def read_documents(shards_dir: Path, columns: list[str] | None = None) -> pa.Table:
    """All document rows of data/shards as one table (shards are small by construction)."""
    files = sorted(Path(shards_dir).glob("shard-*.parquet"))
    if not files:
        raise UserError(f"{shards_dir}: no shards; run `dvc repro ingest`")
    return pa.concat_tables([pq.read_table(f, columns=columns) for f in files])

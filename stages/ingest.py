"""DVC stage `ingest`: raw files (--raw) -> Parquet shards + manifest (--out) and a report JSON (--report)."""

import argparse
import sys

from cptpipe.cli import run_stage, stage_parser
from cptpipe.data.drops import format_alarm
from cptpipe.data.ingest import run_ingest
from cptpipe.io import atomic_dir, write_json
from cptpipe.params import load_params
from cptpipe.timings import split_timings, write_timings

ARGS = stage_parser(
    __doc__,
    raw="folder of raw documents (any depth)",
    out="shards folder, replaced atomically",
    report="drop/flag counts (JSON); throughput goes to logs/timings/ingest.json",
)


def main(args: argparse.Namespace) -> str:
    params = load_params()
    with atomic_dir(args.out) as tmp:
        report = run_ingest(args.raw, tmp, params.ingest, params.seed)
    # how long it took and on how many workers is not what it made: kept out of the tracked report
    tracked, timings = split_timings(report, ("seconds", "mb_per_s", "engine.workers", "engine.tasks"))
    write_json(args.report, tracked)
    write_timings("ingest", timings)
    if report.get("drop_alarm"):  # loud, before the summary line: a silent mass drop trains on scraps
        print(f"cptpipe ingest: WARNING: {format_alarm(report['drop_alarm'])}", file=sys.stderr)
    dropped = ", ".join(f"{r} {n}" for r, n in report["dropped"].items()) or "none"
    flagged = ", ".join(f"{r} {n}" for r, n in report["flagged"].items()) or "none"
    return (
        f"{report['docs_kept']} docs kept of {report['files_seen']} files "
        f"({report['bytes_in'] / 1e6:.1f} MB, {report['mb_per_s']} MB/s, engine {report['engine']['name']} "
        f"x{report['engine']['workers']}); dropped: {dropped}; "
        f"flagged (kept, profile {report['profile']}): {flagged}"
    )


if __name__ == "__main__":
    args = ARGS.parse_args()
    run_stage("ingest", lambda: main(args))

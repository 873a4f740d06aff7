"""The sweep at full size: time of a replay x LR grid and its absorption-forgetting front.

    .venv/bin/python bench/sweep.py                       # study/sweep.yaml, 2 workers
    .venv/bin/python bench/sweep.py --grid FILE --jobs 1

Runs `cptpipe sweep` in this repository (queued `dvc exp run`s; finished ones on this commit are
reused, so time a fresh commit or remove them with `dvc exp remove`), then prints the wall time, how
many runs trained, and every point with forgetting, absorption and whether it is on the front.
Writes reports/sweep.md and reports/sweep.png like `make sweep`.
"""

from __future__ import annotations

import argparse
import re
import time
from pathlib import Path

from cptpipe.sweep import run_sweep

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--grid", default="study/sweep.yaml")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--out", default="reports/sweep.md", help="report file, as `make sweep` writes it")
    args = ap.parse_args()
    t0 = time.perf_counter()
    summary = run_sweep(args.grid, args.out, cwd=ROOT, jobs=args.jobs)
    minutes = (time.perf_counter() - t0) / 60
    md = (ROOT / args.out).read_text()
    trained = re.search(r"(\d+) of (\d+) runs trained in it", md)
    print(
        f"sweep {args.grid}: {minutes:.1f} min wall with {args.jobs} workers; "
        f"{trained.group(1)} of {trained.group(2)} runs trained in it"
        if trained
        else summary
    )
    print(summary)
    for line in md.splitlines():
        if line.startswith("| `"):
            print(line)


if __name__ == "__main__":
    main()

"""How long a stage took, kept out of every DVC-tracked output.

A stage's outputs must be a function of its inputs: wall-clock seconds or a throughput inside one
change its hash on every run, so the run-cache cannot stand in for the stage and `dvc.lock` is dirty
after each rerun. The run-varying fields go to `logs/timings/<stage>.json` instead: gitignored,
declared nowhere in dvc.yaml (DVC saves even `cache: false` outs into the run-cache), overwritten by
each run of the stage in that working tree, and read by nothing the DAG depends on.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

from cptpipe.io import write_json

TIMINGS_DIR = Path("logs/timings")  # beside dvc.yaml: DVC runs every stage's cmd from the repo root


def split_timings(report: dict, keys: tuple[str, ...]) -> tuple[dict, dict]:
    """(a copy of report without `keys`, those keys' values); a dotted key ("engine.workers") reaches one level in."""
    kept = {k: dict(v) if isinstance(v, dict) else v for k, v in report.items()}
    taken = {}
    for key in keys:
        outer, _, inner = key.partition(".")
        holder = kept.get(outer) if inner else kept
        if isinstance(holder, dict) and (inner or outer) in holder:
            taken[key] = holder.pop(inner or outer)
    return kept, taken


def write_timings(stage: str, values: dict, root: Path = TIMINGS_DIR) -> Path:
    """logs/timings/<stage>.json: the values, the stage name and when it finished (UTC)."""
    path = root / f"{stage}.json"
    finished = datetime.now(timezone.utc).isoformat(timespec="seconds")
    write_json(path, {"stage": stage, "finished_at": finished, **values})
    return path


def read_timings(stage: str, root: Path = TIMINGS_DIR) -> dict | None:
    """The stage's last timings in this working tree, or None (never run here, or run elsewhere)."""
    path = root / f"{stage}.json"
    return json.loads(path.read_text()) if path.exists() else None

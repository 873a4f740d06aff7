"""DVC stage `eval@<which>`: a checkpoint (start | cpt) -> reports/eval/<which>/."""

import sys
from pathlib import Path

from cptpipe.cli import run_stage
from cptpipe.errors import UserError
from cptpipe.eval.run import evaluate_checkpoint
from cptpipe.io import atomic_dir
from cptpipe.params import load_params

CHECKPOINTS = {"start": "models/start", "cpt": "models/cpt"}


def main() -> str:
    params = load_params()
    which = sys.argv[1] if len(sys.argv) > 1 else ""
    if which not in CHECKPOINTS:
        raise UserError(f"eval: unknown checkpoint {which!r}; use one of {', '.join(CHECKPOINTS)}")
    out = Path(f"reports/eval/{which}")
    with atomic_dir(out) as tmp:
        m = evaluate_checkpoint(Path(CHECKPOINTS[which]), params, Path("."), tmp, published_dir=out)
    parts = [
        f"{g}.{k}={v:.4g}" for g, d in m.items() if isinstance(d, dict) for k, v in d.items() if isinstance(v, float)
    ]
    return ", ".join(parts)


if __name__ == "__main__":
    run_stage(f"eval@{sys.argv[1] if len(sys.argv) > 1 else '?'}", main)

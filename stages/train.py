"""DVC stage `train`: models/start + data/mix -> models/cpt, reports/train (dvclive curves)."""

import shutil
from pathlib import Path

from cptpipe.cli import run_stage
from cptpipe.io import atomic_dir
from cptpipe.params import load_params
from cptpipe.train.run import run_train


def main() -> str:
    p = load_params()
    live_dir = Path("reports/train")
    shutil.rmtree(live_dir, ignore_errors=True)
    with atomic_dir("models/cpt") as tmp:
        s = run_train(p, Path("models/start"), Path("data/mix"), Path("data/tokens"), tmp, live_dir)
    phases = " -> ".join(f"{ph['name']}({ph['steps']})" for ph in s["phases"])
    return f"recipe {s['recipe']}: {phases}, lr {s['lr']:g} ({s['lr_source']}), loss {s['final_loss']}, {s['tokens_per_second']:.0f} tok/s"


if __name__ == "__main__":
    run_stage("train", main)

"""DVC stage `train`: models/start + data/mix -> models/cpt, reports/train (dvclive curves).

With `train.accelerate_config` set, the stage relaunches itself under
`accelerate launch --config_file <it> -m stages.train` (torchrun for a one-machine multi-CPU
config); every process runs the same code and only the main one writes outputs.
"""

import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from cptpipe.cli import run_stage
from cptpipe.io import atomic_dir
from cptpipe.params import load_params
from cptpipe.train.launch import launch_command
from cptpipe.train.loop import process_state
from cptpipe.train.run import run_train

LAUNCHED = "CPTPIPE_TRAIN_LAUNCHED"  # set in the processes that `accelerate launch` starts
LIVE_DIR = Path("reports/train")


def describe(s: dict) -> str:
    phases = " -> ".join(f"{ph['name']}({ph['steps']})" for ph in s["phases"])
    resumed = f", resumed from step {s['resumed_from_step']}" if s["resumed_from_step"] else ""
    return (
        f"recipe {s['recipe']}: {phases}, lr {s['lr']:g} ({s['lr_source']}), loss {s['final_loss']}, "
        f"{s['tokens_per_second']:.0f} tok/s on {s['world_size']} process(es){resumed}"
    )


def launch(config: str) -> str:
    """Run this stage under `accelerate launch`; the processes write the outputs."""
    cmd, env = launch_command(config, "stages.train")
    rc = subprocess.run(cmd, env={**os.environ, **env, LAUNCHED: "1"}).returncode
    if rc != 0:
        raise SystemExit(rc)
    return describe(json.loads((LIVE_DIR / "summary.json").read_text()))


def train() -> dict:
    """Train in this process; the main process writes models/cpt and reports/train atomically."""
    p = load_params()
    args = (p, Path("models/start"), Path("data/mix"), Path("data/tokens"))
    if not process_state().is_main_process:
        with tempfile.TemporaryDirectory() as scratch:  # workers write nothing; run_train saves on main only
            return run_train(*args, Path(scratch), Path(scratch) / "live", ckpt_root=Path("checkpoints/train"))
    shutil.rmtree(LIVE_DIR, ignore_errors=True)
    with atomic_dir("models/cpt") as tmp:
        return run_train(*args, tmp, LIVE_DIR, ckpt_root=Path("checkpoints/train"))


def main() -> str:
    p = load_params()
    if p.train.accelerate_config and not os.environ.get(LAUNCHED):
        return launch(p.train.accelerate_config)
    return describe(train())


if __name__ == "__main__":
    if os.environ.get(LAUNCHED):
        train()  # one of the launched processes: the launcher prints the summary line
    else:
        run_stage("train", main)

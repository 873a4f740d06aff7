"""DVC stage `train`: start model (--start) + mix index (--mix) over token shards (--tokens) -> trained
model (--out) and dvclive curves + summary.json (--live); resumable checkpoints in --checkpoints.

With `train.accelerate_config` set, the stage relaunches itself under
`accelerate launch --config_file <it> -m stages.train` (torchrun for a one-machine multi-CPU
config), its arguments in the environment; every process runs the same code and only the main one
writes outputs.
"""

import argparse
import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from cptpipe.cli import run_stage, stage_parser
from cptpipe.io import atomic_dir
from cptpipe.params import load_params
from cptpipe.timings import read_timings, split_timings, write_timings
from cptpipe.train.launch import launch_command
from cptpipe.train.loop import process_state
from cptpipe.train.run import TIMED, run_train

# The stage's arguments, set in the processes that `accelerate launch` starts: in the environment,
# since on the command line the launcher's parser would take --start for its own --start-method.
LAUNCHED = "CPTPIPE_TRAIN_LAUNCHED"
ARGS = stage_parser(
    __doc__,
    start="the start model folder",
    mix="the mix stage's index folder",
    tokens="folder with the token shards the index points into",
    out="trained model folder, replaced atomically",
    live="dvclive folder: curves and summary.json, rewritten each run",
    checkpoints="resume checkpoints (outside the stage's outs; deleted after the final save)",
)


def describe(s: dict) -> str:
    phases = " -> ".join(f"{ph['name']}({ph['steps']})" for ph in s["phases"])
    lrs = " / ".join(f"{ph['lr']:g}" for ph in s["phases"])
    resumed = f", resumed from step {s['resumed_from_step']}" if s["resumed_from_step"] else ""
    return (
        f"recipe {s['recipe']}: {phases}, lr {lrs}, loss {s['final_loss']}, "
        f"{s['tokens_per_second']:.0f} tok/s on {s['world_size']} process(es){resumed}"
    )


def launch(config: str, args: argparse.Namespace) -> str:
    """Run this stage under `accelerate launch`; the processes write the outputs."""
    cmd, env = launch_command(config, "stages.train")
    rc = subprocess.run(cmd, env={**os.environ, **env, LAUNCHED: shlex.join(sys.argv[1:])}).returncode
    if rc != 0:
        raise SystemExit(rc)
    return describe({**json.loads((args.live / "summary.json").read_text()), **(read_timings("train") or {})})


def train(args: argparse.Namespace) -> dict:
    """Train in this process; the main process writes --out and --live atomically."""
    p = load_params()
    inputs = (p, args.start, args.mix, args.tokens)
    if not process_state().is_main_process:
        with tempfile.TemporaryDirectory() as scratch:  # workers write nothing; run_train saves on main only
            return run_train(*inputs, Path(scratch), Path(scratch) / "live", ckpt_root=args.checkpoints)
    shutil.rmtree(args.live, ignore_errors=True)
    with atomic_dir(args.out) as tmp:
        summary = run_train(*inputs, tmp, args.live, ckpt_root=args.checkpoints)
    write_timings("train", split_timings(summary, TIMED)[1])  # summary.json leaves them out
    return summary


def main(args: argparse.Namespace) -> str:
    p = load_params()
    if p.train.accelerate_config and LAUNCHED not in os.environ:
        return launch(p.train.accelerate_config, args)
    return describe(train(args))


if __name__ == "__main__":
    if LAUNCHED in os.environ:  # one of the launched processes: the launcher prints the summary line
        train(ARGS.parse_args(shlex.split(os.environ[LAUNCHED])))
    else:
        args = ARGS.parse_args()
        run_stage("train", lambda: main(args))

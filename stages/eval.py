"""DVC stage `eval@<which>`: a checkpoint (--checkpoint) on the held-out data -> lm-eval results (--out)."""

import argparse

from cptpipe.cli import run_stage, stage_parser
from cptpipe.eval.run import evaluate_checkpoint
from cptpipe.eval.tasks import EvalInputs
from cptpipe.io import atomic_dir
from cptpipe.params import load_params

ARGS = stage_parser(
    __doc__,
    checkpoint="the model folder to evaluate",
    qa="the qa stage's folder (train.parquet, heldout.parquet)",
    shards="the ingest stage's shards (the held-out documents)",
    replay="folder with the general text's heldout.jsonl",
    instruct="folder with the instructions' follow.jsonl and heldout.jsonl",
    general="folder with the general text's heldout.jsonl (trained by no phase)",
    out="results folder (metrics.json, samples, task YAMLs), replaced atomically; its name is <which>",
)


def main(args: argparse.Namespace) -> str:
    params = load_params()
    inputs = EvalInputs(
        qa=args.qa, shards=args.shards, replay=args.replay, instruct=args.instruct, general=args.general
    )
    with atomic_dir(args.out) as tmp:
        m = evaluate_checkpoint(args.checkpoint, params, inputs, tmp, published_dir=args.out)
    parts = [
        f"{g}.{k}={v:.4g}" for g, d in m.items() if isinstance(d, dict) for k, v in d.items() if isinstance(v, float)
    ]
    return ", ".join(parts)


if __name__ == "__main__":
    args = ARGS.parse_args()
    run_stage(f"eval@{args.out.name}", lambda: main(args))

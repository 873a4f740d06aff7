"""DVC stage `report`: eval results, training and mix summaries -> metrics JSON (--metrics), markdown
report (--out) and its PNGs (--plots)."""

import argparse
import os

from cptpipe.cli import run_stage, stage_parser
from cptpipe.io import write_json, write_text
from cptpipe.metric_table import CHECKPOINTS
from cptpipe.params import load_params
from cptpipe.report.compose import build_report

ARGS = stage_parser(
    __doc__,
    eval_start="the eval stage's results of the start model",
    eval_cpt="the eval stage's results of the trained model",
    train="the train stage's live folder (summary.json, curves)",
    mix="the mix stage's report JSON",
    model="the trained model folder (its config and size are reported)",
    plots="folder for the PNGs",
    metrics="start/cpt metrics, absorption and forgetting (JSON, the DVC metrics file)",
    out="the markdown report",
)


def main(args: argparse.Namespace) -> str:
    ev = load_params().eval  # the whole file is validated first
    setup = {"backend": ev.backend, "model_args": ev.model_args, "batch_size": ev.batch_size}
    metrics, md = build_report(
        dict(zip(CHECKPOINTS, (args.eval_start, args.eval_cpt))),
        args.train,
        args.mix,
        args.plots,
        args.model,
        setup,
        plots_href=os.path.relpath(args.plots, args.out.parent),
    )
    write_json(args.metrics, metrics)
    write_text(args.out, md)
    a, f = metrics["absorption"], metrics["forgetting"]
    return f"absorption {a}, forgetting {f}"


if __name__ == "__main__":
    args = ARGS.parse_args()
    run_stage("report", lambda: main(args))

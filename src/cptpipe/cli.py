"""Command-line layer: the only place that turns errors into exit codes."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

from cptpipe.errors import UserError


def run_stage(name: str, body: Callable[[], str]) -> None:
    """Run a stage body; print its one-line summary, or a short error and exit 2 on user errors."""
    t0 = time.time()
    try:
        summary = body()
    except UserError as e:
        print(f"cptpipe {name}: {e}", file=sys.stderr)
        raise SystemExit(2) from None
    print(f"cptpipe {name}: {summary} ({time.time() - t0:.1f}s)")


def stage_parser(description: str | None, **paths: str) -> argparse.ArgumentParser:
    """A stage's arguments: one required `--<name> PATH` per keyword (its help); dvc.yaml's cmd passes them."""
    parser = argparse.ArgumentParser(description=description)
    for name, text in paths.items():
        parser.add_argument(f"--{name.replace('_', '-')}", type=Path, required=True, metavar="PATH", help=text)
    return parser


OUT_HELP = "markdown file for the {what}; its figure is written beside it, the same name with .png"


def add_params_doc(sub: argparse._SubParsersAction) -> None:
    doc = sub.add_parser("params-doc", help="the params reference (each key: value, type, bounds, comment) as markdown")
    doc.add_argument("--params", default="params.yaml", help="params file to document (default params.yaml)")
    doc.add_argument("--out", default=None, help="markdown file to write (default: print to stdout)")


def params_doc(args: argparse.Namespace) -> None:
    """Print the params reference, or write it to --out."""
    from cptpipe.params_doc import render

    text = render(args.params)
    if args.out is None:
        print(text, end="")
    else:
        Path(args.out).write_text(text)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="cptpipe", description=__doc__)
    sub = parser.add_subparsers(dest="cmd", required=True)
    sub.add_parser("validate", help="validate params.yaml and print the resolved values")
    doc = sub.add_parser(
        "params-doc", help="the params reference (every key: value, type, bounds, comment) as markdown"
    )
    doc.add_argument("--params", default="params.yaml", help="params file to document (default params.yaml)")
    doc.add_argument("--out", default=None, help="markdown file to write (default: print to stdout)")
    cmp = sub.add_parser("compare", help="markdown table of key metrics across experiments/revisions")
    cmp.add_argument("revs", nargs="*", help="git revisions to include (default: all experiments)")
    st = sub.add_parser("study", help="run the grid of study/grid.yaml as queued dvc experiments -> --out")
    st.add_argument("--grid", default=None, help="grid file (default study/grid.yaml; --quick: study/quick.yaml)")
    st.add_argument("--quick", action="store_true", help="the small grid used by the tests")
    st.add_argument("--out", required=True, help=OUT_HELP.format(what="comparison table"))
    st.add_argument(
        "--fresh",
        action="store_true",
        help="remove the grid's existing experiments first, so every number is measured in this run",
    )
    st.add_argument(
        "--jobs",
        type=int,
        default=1,
        help="experiments run at once, the CPU cores split between them (2 on a 2-core CPU machine)",
    )
    sw = sub.add_parser(
        "sweep",
        help="run a grid or sample over params keys as queued dvc experiments -> "
        "--out: the absorption-forgetting front and a recommended setting",
    )
    sw.add_argument("--out", required=True, help=OUT_HELP.format(what="front and recommendation"))
    sw.add_argument("--grid", default="study/sweep.yaml", help="sweep file (default study/sweep.yaml)")
    sw.add_argument(
        "--max-forgetting",
        type=float,
        default=None,
        help="forgetting budget (units of the file's `forgetting` metric); overrides max_forgetting",
    )
    sw.add_argument("--jobs", type=int, default=1, help="experiments run at once (2 on a 2-core CPU machine)")
    args = parser.parse_args(argv)
    if args.cmd == "validate":
        from cptpipe.params import load_params

        run_stage("validate", lambda: f"params.yaml ok (recipe {load_params().train.recipe})")
    elif args.cmd == "params-doc":
        params_doc(args)
    elif args.cmd == "compare":
        from cptpipe.report.compare import compare_markdown

        run_stage("compare", lambda: "\n" + compare_markdown(args.revs))
    elif args.cmd == "study":
        from cptpipe.study import run_study

        grid = args.grid or ("study/quick.yaml" if args.quick else "study/grid.yaml")
        run_stage("study", lambda: run_study(grid, args.out, fresh=args.fresh, jobs=args.jobs))
    elif args.cmd == "sweep":
        from cptpipe.sweep import run_sweep

        run_stage("sweep", lambda: run_sweep(args.grid, args.out, jobs=args.jobs, max_forgetting=args.max_forgetting))


if __name__ == "__main__":
    main()

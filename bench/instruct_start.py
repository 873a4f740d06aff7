"""The scratch "instruct" start: how well it follows held-out verifiable instructions, per kind.

    .venv/bin/python bench/instruct_start.py                                   # params.yaml's model.scratch
    .venv/bin/python bench/instruct_start.py --set model.scratch.instruct_epochs=10 --set model.scratch.context=256

Builds models/start exactly as the `model` stage does with `model.scratch.instruct_tune: true` (and
every --set) into a temp dir under the repository root, then runs the eval stage's `instruct_follow`
and `replay_ppl` tasks on it (lm-eval, data/instruct/heldout.jsonl, data/replay heldout). Prints the build
time, the follow rate overall and per instruction kind (the id's middle part), and replay perplexity (how much of the
language model the tuning kept). The temp dir is removed; nothing else is written, unless --keep DIR
asks for a copy of the built model.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import yaml
from absorption import parse_sets, set_keys  # bench/absorption.py: the benches' --set handling

from cptpipe.eval.run import evaluate_checkpoint
from cptpipe.eval.tasks import EvalInputs
from cptpipe.model.prepare import build_start
from cptpipe.params import parse_params

ROOT = Path(__file__).resolve().parents[1]


def params_with(overrides: dict[str, object]):
    raw = set_keys(
        yaml.safe_load((ROOT / "params.yaml").read_text()), {"model.scratch.instruct_tune": True, **overrides}
    )
    raw["eval"].update(
        domain_qa=False, replay_ppl=True, general_ppl=False, instruct_follow=True, lm_eval_tasks=[], passkey_lengths=[]
    )
    return parse_params(raw, "params.yaml (+ --set)")


def follow_by_kind(samples: Path) -> dict[str, list[dict]]:
    kinds: dict[str, list[dict]] = defaultdict(list)
    for line in samples.read_text().splitlines():
        row = json.loads(line)
        kinds[row["doc"]["id"].split("/")[1]].append(row)
    return dict(sorted(kinds.items()))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="params override (repeatable), e.g. model.scratch.instruct_epochs=10",
    )
    ap.add_argument(
        "--show",
        type=int,
        default=0,
        metavar="N",
        help="also print N responses per kind (target, then what the model wrote)",
    )
    ap.add_argument("--keep", type=Path, default=None, help="also copy the built start model here")
    args = ap.parse_args()
    overrides = parse_sets(args.set)
    params = params_with(overrides)
    os.chdir(ROOT)  # the eval's task files are written and read relative to the repository root
    with tempfile.TemporaryDirectory(prefix=".bench-instruct-", dir=ROOT) as tmp:
        start, out = Path(tmp) / "start", Path(tmp) / "eval"
        start.mkdir()
        out.mkdir()
        t0 = time.perf_counter()
        summary = build_start(params, ROOT / "data/replay", ROOT / "data/instruct", start)
        built = time.perf_counter() - t0
        data = EvalInputs(*(ROOT / f"data/{name}" for name in ("qa", "shards", "replay", "instruct", "general")))
        metrics = evaluate_checkpoint(start, params, data, out)
        kinds = follow_by_kind(out / "samples_instruct_drills.jsonl")
        if args.keep is not None:
            shutil.copytree(start, args.keep, dirs_exist_ok=True)
    phases = ", ".join(f"{p['name']} {p['steps']} steps" for p in summary["phases"])
    print(f"overrides {overrides or 'none'}; built in {built:.0f} s ({phases})")
    print(
        f"drills {metrics['instruct']['drills']:.3f} on {metrics['n']['instruct_drills']} held-out drills, "
        f"follow {metrics['instruct']['follow']:.3f} on {metrics['n']['instruct_follow']} IFEval-style requests; "
        f"replay ppl {metrics['replay']['ppl']:,.0f}"
    )
    print(f"{'kind':>16} {'follow':>7} {'n':>3}")
    for kind, rows in kinds.items():
        print(f"{kind:>16} {sum(r['follow'] for r in rows) / len(rows):>7.2f} {len(rows):>3}")
        for r in rows[: args.show]:
            print(f"{'':>16} {r['follow']:.0f} {r['target']!r} <- {r['resps'][0][:80]!r}")


if __name__ == "__main__":
    main()

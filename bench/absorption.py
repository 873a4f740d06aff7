"""Absorption curves per recipe: seen / held-out exact match vs training tokens, from the train stage's own curves.

    .venv/bin/python bench/absorption.py                                  # pit and it_after_cpt, params.yaml as is
    .venv/bin/python bench/absorption.py --recipes pit,mixed,it_after_cpt,pit_docs_only
    .venv/bin/python bench/absorption.py --set mix.tokens=20000 --set train.eval_every=5   # a quick smoke run
    .venv/bin/python bench/absorption.py --keep /tmp/absorb               # keep (or reuse) the copy

The repository's files (git-tracked and untracked-but-not-ignored, as they are in the working tree)
are copied to a temp dir (`git init`, one commit). For each recipe, `train.recipe` and every --set
are written into the copy's params.yaml and `dvc repro train` runs there: ingest, model, qa and
tokenize run once (the first recipe), then only mix and train rerun. The table of each run joins
reports/train/plots/metrics/train/tokens.tsv with eval/seen_em.tsv and eval/heldout_em.tsv, i.e. the
probe of `train.absorption_questions` seen (train-split) and held-out factual questions answered
greedily every `train.eval_every` steps and at the end.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from cptpipe.timings import TIMINGS_DIR, read_timings

ROOT = Path(__file__).resolve().parents[1]
CURVES = Path("reports/train/plots/metrics")
PRISTINE = ".bench-params.yaml"  # the copied params.yaml, the base of every run's overrides


def copy_repo(dest: Path) -> None:
    """The working tree's tracked and untracked-not-ignored files into dest, as a fresh one-commit git repo."""
    files = (
        subprocess.run(
            ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
            cwd=ROOT,
            capture_output=True,
            check=True,
        )
        .stdout.decode()
        .split("\0")
    )
    for name in filter(None, files):
        src = ROOT / name
        if src.is_file():  # deleted in the working tree: skip
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / name)
    git = ["git", "-c", "user.name=bench", "-c", "user.email=bench@cptpipe.invalid"]
    subprocess.run(["git", "init", "-q"], cwd=dest, check=True)
    subprocess.run(git + ["add", "-A"], cwd=dest, check=True)
    subprocess.run(git + ["commit", "-qm", "bench copy"], cwd=dest, check=True)
    shutil.copy2(dest / "params.yaml", dest / PRISTINE)


def parse_sets(sets: list[str]) -> dict[str, object]:
    out = {}
    for item in sets:
        key, sep, value = item.partition("=")
        if not sep:
            raise SystemExit(f"--set {item}: expected key=value, e.g. mix.tokens=20000")
        out[key] = yaml.safe_load(value)
    return out


def set_keys(params: dict, overrides: dict[str, object]) -> dict:
    """params (a loaded params.yaml) with dotted keys set in place."""
    for key, value in overrides.items():
        node, *path = params, *key.split(".")
        for part in path[:-1]:
            node = node.setdefault(part, {})
        node[path[-1]] = value
    return params


def write_params(repo: Path, overrides: dict[str, object]) -> None:
    """The copied params.yaml with dotted keys set (comments are lost in the copy; the original is untouched)."""
    params = set_keys(yaml.safe_load((repo / PRISTINE).read_text()), overrides)
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))


def stage_env(repo: Path) -> dict[str, str]:
    """The copy's own code first (not this checkout's editable install), the venv's tools on PATH."""
    bindir = str(Path(sys.executable).parent)
    return {
        **os.environ,
        "PATH": bindir + os.pathsep + os.environ.get("PATH", ""),
        "PYTHONPATH": os.pathsep.join([str(repo / "src"), str(repo)]),
        "HF_HUB_OFFLINE": "1",
        "TOKENIZERS_PARALLELISM": os.environ.get("TOKENIZERS_PARALLELISM", "false"),
    }


def read_tsv(path: Path) -> dict[int, float]:
    if not path.exists():
        return {}
    with open(path) as f:
        rows = list(csv.reader(f, delimiter="\t"))
    return {int(r[0]): float(r[1]) for r in rows[1:]}


def curve_table(repo: Path) -> tuple[list[tuple[int, str, int, float, float]], dict]:
    """(step, phase, tokens, seen EM, held-out EM) at every probe step, and the run's summary.json."""
    summary = json.loads((repo / "reports/train/summary.json").read_text())
    tokens = read_tsv(repo / CURVES / "train/tokens.tsv")
    seen = read_tsv(repo / CURVES / "eval/seen_em.tsv")
    held = read_tsv(repo / CURVES / "eval/heldout_em.tsv")

    def phase(step: int) -> str:
        return next((p["name"] for p in summary["phases"] if p["first_step"] <= step <= p["last_step"]), "?")

    steps = sorted(set(seen) | set(held))
    nan = float("nan")
    return [(s, phase(s), int(tokens.get(s, -1)), seen.get(s, nan), held.get(s, nan)) for s in steps], summary


def thin(rows: list, n: int) -> list:
    """About n rows spread evenly over the run, always with the last (n <= 0: all)."""
    if n <= 0 or len(rows) <= n:
        return rows
    keep = {round(i * (len(rows) - 1) / (n - 1)) for i in range(n)}
    return [r for i, r in enumerate(rows) if i in keep]


def print_run(recipe: str, rows, summary: dict, seconds: float, n_rows: int) -> None:
    phases = " -> ".join(f"{p['name']}({p['first_step']}-{p['last_step']})" for p in summary["phases"])
    probe = summary.get("absorption", {})
    print(
        f"\n== {recipe}: {phases}; {summary['tokens']:,} loss-carrying tokens, lr {summary['lr']:g}, "
        f"dvc repro {seconds:.0f} s "
        f"(probe {probe.get('seconds', float('nan')):.1f} s for {probe.get('questions', {})} questions)"
    )
    if not rows:
        print("   no EM curve (train.absorption_questions: 0, or no factual QA rows in data/tokens/qa)")
        return
    print(f"{'step':>6} {'phase':>10} {'tokens':>12} {'seen EM':>8} {'held-out EM':>12}")
    for step, phase, tokens, seen, held in thin(rows, n_rows):
        print(f"{step:>6} {phase:>10} {tokens:>12,} {seen:>8.3f} {held:>12.3f}")


def run_recipe(repo: Path, recipe: str, overrides: dict[str, object]) -> tuple[list, dict, float] | None:
    write_params(repo, {**overrides, "train.recipe": recipe})
    print(f"{recipe}: dvc repro train ...", flush=True)
    t0 = time.perf_counter()
    out = subprocess.run(["dvc", "repro", "train"], cwd=repo, env=stage_env(repo), capture_output=True, text=True)
    seconds = time.perf_counter() - t0
    if out.returncode != 0:
        print(
            f"\n== {recipe}: dvc repro train failed (exit {out.returncode}) after {seconds:.0f} s:\n"
            + (out.stdout + out.stderr)[-3000:]
        )
        return None
    rows, summary = curve_table(repo)
    # the probe's seconds vary per run, so the stage logs them beside the repo, not in summary.json
    timed = read_timings("train", repo / TIMINGS_DIR) or {}
    summary.setdefault("absorption", {})["seconds"] = timed.get("absorption.seconds", float("nan"))
    return rows, summary, seconds


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--recipes", default="pit,it_after_cpt", help="comma-separated train.recipe values")
    ap.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="params.yaml override in the copy (repeatable), e.g. mix.tokens=20000",
    )
    ap.add_argument("--rows", type=int, default=25, help="table rows per recipe, spread over the run (0: every probe)")
    ap.add_argument("--keep", type=Path, help="copy the repo here (reused when it already holds a copy) and keep it")
    args = ap.parse_args()
    recipes = [r.strip() for r in args.recipes.split(",") if r.strip()]
    overrides = parse_sets(args.set)
    tmp = None
    if args.keep is not None:
        repo = args.keep.resolve()
        if not (repo / "dvc.yaml").exists():
            repo.mkdir(parents=True, exist_ok=True)
            copy_repo(repo)
    else:
        tmp = tempfile.TemporaryDirectory(prefix="cptpipe-absorption-")
        repo = Path(tmp.name)
        copy_repo(repo)
    print(f"bench copy: {repo}; recipes {recipes}; overrides {overrides or 'none'}", flush=True)
    finals = []
    try:
        for recipe in recipes:
            got = run_recipe(repo, recipe, overrides)
            if got is None:
                continue
            rows, summary, seconds = got
            print_run(recipe, rows, summary, seconds, args.rows)
            if rows:
                finals.append(
                    (
                        recipe,
                        summary["tokens"],
                        rows[-1][3],
                        rows[-1][4],
                        max(r[3] for r in rows),
                        max(r[4] for r in rows),
                    )
                )
            sys.stdout.flush()
    finally:
        if tmp is not None:
            tmp.cleanup()
    if finals:
        print(
            f"\n{'recipe':>16} {'tokens':>12} {'seen EM':>8} {'held-out EM':>12} "
            f"{'best seen':>10} {'best held-out':>14}"
        )
        for recipe, tokens, seen, held, best_seen, best_held in finals:
            print(f"{recipe:>16} {tokens:>12,} {seen:>8.3f} {held:>12.3f} {best_seen:>10.3f} {best_held:>14.3f}")


if __name__ == "__main__":
    main()

"""The experiment runner behind `cptpipe study` and `cptpipe sweep`: arms as queued `dvc exp run`s.

A grid declares axes of params overrides; every combination is an arm, run as a named DVC
experiment (`<prefix>-<arm>-s<seed>`) so `dvc exp show` lists it with its params and metrics.
Seeded arms run once per `mix.seed` value: only the sampling order changes, so their spread is
run-to-run noise. Arms whose experiment already has results on the current commit are reused (a
crashed or interrupted run resumes where it stopped) and counted as reused; `fresh` removes them
first. The study and the sweep each read the aggregated results their own way.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import statistics
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Collection, Container, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from cptpipe.errors import UserError
from cptpipe.params.yamlio import load_yaml, set_arg
from cptpipe.progress import bar
from cptpipe.report.compare import dvc_bin, exp_show, rows_from_exp_show

GRID_KEYS = {"name", "common", "axes", "extra", "seeds", "copy_paths"}


@dataclass(frozen=True)
class Arm:
    name: str  # the arm without its seed, e.g. base-pit-r6
    seed: int  # mix.seed
    overrides: tuple[tuple[str, object], ...]  # params keys -> values, in -S order

    @property
    def exp_name(self) -> str:
        return f"{self.name}-s{self.seed}"


@dataclass
class Grid:
    prefix: str
    common: dict[str, object]
    axes: dict[str, dict[str, dict[str, object]]]
    extra: dict[str, dict] = field(default_factory=dict)
    seeds: list[int] = field(default_factory=lambda: [0])
    seeded_arms: list[str] = field(default_factory=list)
    # untracked or ignored paths every arm needs (e.g. a local start model): queued experiments run in
    # temporary clones of the repository, which hold only what git tracks
    copy_paths: list[str] = field(default_factory=list)


def read_grid(path: str | Path, own_keys: Collection[str] = ()) -> dict:
    """A grid file's raw mapping; `own_keys`: the caller's top-level keys allowed beside the grid's."""
    path = Path(path)
    if not path.exists():
        raise UserError(f"study grid {path} not found; pass --grid FILE (see study/grid.yaml)")
    raw = load_yaml(path.read_text()) or {}
    allowed = GRID_KEYS | set(own_keys)
    unknown = sorted(set(raw) - allowed)
    if unknown:
        raise UserError(f"{path}: unknown keys {unknown}; allowed: {sorted(allowed)}")
    if not raw.get("axes"):
        raise UserError(f"{path}: `axes` is required: {{axis: {{level: {{params.key: value}}}}}}")
    return raw


def grid_from(raw: dict, problems: list[str]) -> Grid:
    """The Grid of a read_grid mapping; its problems are appended to `problems`, not raised, so the
    caller reports them with its own in one error."""
    seeds = raw.get("seeds") or {}
    grid = Grid(
        prefix=str(raw.get("name", "study")),
        common=dict(raw.get("common") or {}),
        axes={str(a): dict(levels) for a, levels in raw["axes"].items()},
        extra=dict(raw.get("extra") or {}),
        seeds=[int(s) for s in seeds.get("values", [0])],
        seeded_arms=list(seeds.get("arms", [])),
        copy_paths=[str(p) for p in raw.get("copy_paths") or []],
    )
    for path in grid.copy_paths:
        if Path(path).is_absolute() or ".." in Path(path).parts:
            problems.append(f"copy_paths: {path!r} must be a path inside the repository, relative to its root")
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_]*", grid.prefix):
        problems.append(f"name={grid.prefix!r} must be letters, digits and '_' (it prefixes git refs)")
    return grid


def _arm_sets(grid: Grid, problems: list[str]) -> dict[str, dict[str, object]]:
    """Arm name -> its overrides: every product of the axes' levels, then the extra arms."""
    arms: dict[str, dict[str, object]] = {}
    for combo in itertools.product(*(levels.items() for levels in grid.axes.values())):
        name = "-".join(level for level, _ in combo)
        sets: dict[str, object] = dict(grid.common)
        for _, overrides in combo:
            sets.update(overrides or {})
        arms[name] = sets
    for name, spec in grid.extra.items():
        base = spec.get("from")
        if base not in arms:
            problems.append(f"extra arm {name!r}: from={base!r} is not an arm")
            continue
        arms[name] = {**arms[base], **(spec.get("set") or {})}
    return arms


def expand(grid: Grid, refs: Sequence[tuple[str, list[str]]] = ()) -> list[Arm]:
    """Every product arm and extra arm; seeded arms once per seed, the others at the first seed.

    refs: (what, the arm names it refers to), e.g. a study's claims: checked with the grid's own
    references so that every unknown arm is named in one error."""
    problems: list[str] = []
    arms = _arm_sets(grid, problems)
    for what, names in [("seeds.arms", grid.seeded_arms), *refs]:
        if missing := [a for a in names if a not in arms]:
            problems.append(f"{what} {missing} are not arms")
    if problems:
        # a typo found now, not after hours of training
        raise UserError("study grid: " + "; ".join(problems) + f"; arms: {sorted(arms)}")
    out = []
    for name, sets in arms.items():
        for seed in grid.seeds if name in grid.seeded_arms else grid.seeds[:1]:
            overrides = tuple(sorted({**sets, "mix.seed": seed}.items()))
            out.append(Arm(f"{grid.prefix}-{name}", seed, overrides))
    return out


def set_args(arm: Arm) -> list[str]:
    """`-S key=value` pairs; values as YAML scalars so DVC writes the same types into params.yaml."""
    args = []
    for key, value in arm.overrides:
        args += ["-S", set_arg(key, value)]
    return args


# ---------------------------------------------------------------------------------------------
# Running: thin wrappers over the dvc CLI (what a user would type), so a study or sweep is
# inspectable with `dvc queue status`, `dvc queue logs NAME` and `dvc exp show` while it runs.


def _run(args: list[str], cwd: Path, check: bool = True, env: dict | None = None) -> str:
    proc = subprocess.run([dvc_bin(), *args], cwd=cwd, capture_output=True, text=True, check=False, env=env)
    if check and proc.returncode != 0:
        raise UserError(f"`dvc {' '.join(args[:3])} …` failed: {(proc.stderr or proc.stdout).strip()[-600:]}")
    return proc.stdout + proc.stderr


def exp_rows(cwd: Path) -> dict[str, dict]:
    """Experiments of the current commit by name -> {params, metrics} (from `dvc exp show --json`)."""
    return {r["name"]: r for r in rows_from_exp_show(exp_show(cwd)) if r["metrics"]}


def queue_status(text: str) -> dict[str, str]:
    """Exp name -> Queued/Running/Success/Failed from `dvc queue status` (its table, by column)."""
    status = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) >= 4 and parts[-1] in ("Queued", "Running", "Success", "Failed"):
            status[parts[1]] = parts[-1]
    return status


def worker_env(jobs: int, cores: int | None = None) -> dict[str, str]:
    """The environment of `jobs` queue workers: the cores split between them (OMP/MKL threads each)."""
    threads = str(max(1, (cores or os.cpu_count() or 1) // jobs))
    return {**os.environ, "OMP_NUM_THREADS": threads, "MKL_NUM_THREADS": threads}


def queue_order(arms: list[Arm]) -> list[Arm]:
    """One arm per start of its own first, then the arms of the shared start, then the rest.

    The start shared by most arms is built once (or checked out from `make repro`'s dvc.lock); an arm
    with other `model.*` values builds its own (the instruct start: ~4x a base arm's time), so one
    such arm per start goes first: queued last it would run alone on one core at the end. The other
    arms of that start go last, when DVC's run cache holds it: queued beside its builder they would
    build it a second time.
    """

    def model_keys(arm: Arm) -> str:
        return json.dumps(sorted((k, v) for k, v in arm.overrides if k.startswith("model.")))

    if not arms:
        return []
    keys = [model_keys(a) for a in arms]
    shared = Counter(keys).most_common(1)[0][0]
    builder = {k: i for i, k in reversed(list(enumerate(keys)))}  # each start's first arm
    rank = [1 if k == shared else 0 if builder[k] == i else 2 for i, k in enumerate(keys)]
    return [arms[i] for i in sorted(range(len(arms)), key=rank.__getitem__)]  # stable: grid order within a rank


def _wait(names: set[str], cwd: Path, poll_s: float, desc: str) -> dict[str, str]:
    """Poll `dvc queue status` until none of `names` is queued or running; their last statuses."""
    with bar(total=len(names), desc=desc, unit="exp") as pbar:
        finished: set[str] = set()
        while True:
            status = {k: v for k, v in queue_status(_run(["queue", "status"], cwd, check=False)).items() if k in names}
            now = {k for k, v in status.items() if v in ("Success", "Failed")}
            pbar.update(len(now - finished))
            finished |= now
            running = [k for k, v in status.items() if v in ("Queued", "Running")]
            pbar.set_postfix(running=next((k for k, v in status.items() if v == "Running"), "-"))
            if not running and (finished or not status):
                return status
            time.sleep(poll_s)


def run_arms(
    arms: list[Arm],
    cwd: Path,
    done: dict[str, dict],
    poll_s: float = 5.0,
    jobs: int = 1,
    desc: str = "study",
    copy_paths: Sequence[str] = (),
) -> list[str]:
    """Queue the arms without results in `done` (exp_rows), run the queue with `jobs` workers, wait;
    returns the failed names. `copy_paths` go into every arm's temporary clone."""
    todo = queue_order([a for a in arms if a.exp_name not in done])
    if not todo:
        return []
    if missing := [p for p in copy_paths if not (cwd / p).exists()]:
        raise UserError(f"copy_paths {missing} do not exist; build them first (e.g. `make real` for models/gguf)")
    copies = [arg for p in copy_paths for arg in ("--copy-paths", p)]
    for arm in todo:
        # A failed earlier try would clash by name; drop it so the rerun can reuse the name.
        _run(["exp", "remove", arm.exp_name], cwd, check=False)
        _run(["exp", "run", "--queue", "-n", arm.exp_name, *copies, *set_args(arm)], cwd)
    # Tiny CPU models use cores poorly: on 2 cores two 1-thread runs train ~1.3x the tokens per second
    # of one 2-thread run (2 x 2.6k vs 3.9k tok/s), so the cores are split between `jobs` workers.
    _run(["queue", "start", "-j", str(jobs)], cwd, env=worker_env(jobs))
    status = _wait({a.exp_name for a in todo}, cwd, poll_s, desc)
    failed = sorted(k for k, v in status.items() if v == "Failed")
    for name in failed:
        tail = _run(["queue", "logs", name], cwd, check=False).strip().splitlines()[-15:]
        print(
            f"{desc}: experiment {name} failed; last lines of `dvc queue logs {name}`:\n  " + "\n  ".join(tail),
            file=sys.stderr,
        )
    return failed


@dataclass
class Outcome:
    """One invocation's runs: what the report needs to tell measured from reused numbers."""

    rows: dict[str, dict]  # exp_rows after the run
    before: set[str]  # experiments with results before this invocation: their runs count as reused
    failed: list[str]
    started: float  # time.time() at the start

    @property
    def minutes(self) -> float:
        """Wall minutes so far: read when the report is written, so it includes the plotting."""
        return (time.time() - self.started) / 60


def run_grid(
    arms: list[Arm],
    cwd: Path,
    jobs: int = 1,
    fresh: bool = False,
    desc: str = "study",
    copy_paths: Sequence[str] = (),
) -> Outcome:
    """Run the arms without results on this commit (all of them with fresh=True) and read them back."""
    started = time.time()
    before = exp_rows(cwd)
    if fresh and (old := [a.exp_name for a in arms if a.exp_name in before]):
        _run(["exp", "remove", *old], cwd)
        before = exp_rows(cwd)
    failed = run_arms(arms, cwd, before, jobs=jobs, desc=desc, copy_paths=copy_paths)
    return Outcome(rows=exp_rows(cwd), before=set(before), failed=failed, started=started)


# ---------------------------------------------------------------------------------------------
# Reading: pure functions over the experiments' metrics. A stat is (mean, spread): spread is the
# sample std over seeds, None for a single run (unknown, which is not the same as zero).


def _get(metrics: dict, key: str) -> float | None:
    v = metrics.get(key)
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else None


def aggregate(arms: list[Arm], rows: dict[str, dict], before: Container[str]) -> dict[str, dict]:
    """{arm: {"n", "seeds", "new", "reused", "start", "stats": {metric: (mean, spread)}}}.

    rows: exp_rows after the run; before: the experiment names that had results before this
    invocation: their runs count as reused, the others as trained ("new") in it."""
    out: dict[str, dict] = {}
    for name in dict.fromkeys(a.name for a in arms):
        mine = [a for a in arms if a.name == name]
        ran = [a for a in mine if a.exp_name in rows]
        runs = [rows[a.exp_name]["metrics"] for a in ran]
        reused = sum(1 for a in ran if a.exp_name in before)
        stats = {}
        for key in dict.fromkeys(k for m in runs for k in m):
            vals = [v for v in (_get(m, key) for m in runs) if v is not None]
            if vals:
                stats[key] = (statistics.fmean(vals), statistics.stdev(vals) if len(vals) > 1 else None)
        out[name] = {
            "n": len(runs),
            "seeds": [a.seed for a in ran],
            "new": len(ran) - reused,
            "reused": reused,
            "start": dict(mine[0].overrides).get("model.kind") or "default",
            "stats": stats,
        }
    return out


def mean_of(entry: dict, key: str) -> float | None:
    """The mean of `key` over an aggregated arm's runs (None: no run has it)."""
    stat = entry["stats"].get(key)
    return stat[0] if stat else None


def cell(stat: tuple[float, float | None] | None) -> str:
    """A table cell: `mean ± spread`, the mean alone for one run, `–` when not measured."""
    if stat is None:
        return "–"
    mean, spread = stat
    return f"{mean:.3f}" if spread is None else f"{mean:.3f} ± {spread:.3f}"


def failed_lines(what: str, rerun: str, failed: list[str]) -> list[str]:
    """The closing section of a study or sweep report that lists its failed runs (none: nothing)."""
    if not failed:
        return []
    retry = f"{rerun} to retry them (finished {what} are reused): " + ", ".join(f"`{f}`" for f in failed)
    return ["", f"## Failed {what}", "", retry]

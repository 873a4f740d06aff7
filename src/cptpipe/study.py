"""`cptpipe study`: the seed's experiment as queued `dvc exp run`s and one honest comparison table.

A grid file (study/grid.yaml) declares axes of params overrides; every combination is an arm, run
as a named DVC experiment so `dvc exp show` lists it with its params and metrics. Headline arms run
once per `mix.seed` value: only the sampling order changes, so their spread is run-to-run noise.
Arms whose experiment already exists on the current commit are reused: a crashed or interrupted
study resumes where it stopped.
"""

from __future__ import annotations

import itertools
import json
import math
import re
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from cptpipe.errors import UserError
from cptpipe.io import write_text
from cptpipe.progress import bar
from cptpipe.report.compare import dvc_bin, exp_show, rows_from_exp_show

MC_CHANCE = 0.25  # domain_qa_mc has 4 options

# Metrics of the table: (metrics.json path, column header).
COLUMNS = (
    ("cpt.domain_qa.em", "held-out EM"),
    ("cpt.domain_qa_mc.acc", "held-out MC acc"),
    ("cpt.domain_qa_seen.em", "seen-QA EM"),
    ("forgetting.ppl_ratio", "replay ppl ratio"),
    ("cpt.instruct.follow", "instr. follow"),
    ("absorption.mc_gain", "MC gain over start"),
)
# Read per start model: an arm's gains and ratios are relative to its own start.
START_KEYS = ("start.domain_qa_mc.acc", "start.domain_qa.em", "start.replay.ppl", "start.instruct.follow")

# Published figures the study is read against (quoted, not reproduced).
PAPER = (
    ("Jiang et al. 2024 (arXiv 2402.12847), Llama-2 7B", "held-out QA EM", "standard instruction-tuning "
     "(documents, then QA) 30.3 → pre-instruction-tuning (PIT++) 48.1"),
    ("Jiang et al. 2024, Llama-2 70B", "held-out QA EM", "46.4 → 62.7"),
    ("Ovadia et al. 2025 (Knowledge-Instruct, arXiv 2504.05571)", "QA on fictional companies",
     "plain CPT 4.2 → knowledge-instruct (QA/paraphrase injection) 81.8"),
    ("cptpipe brief (replay)", "forgetting", "5–10% replay of general data limits forgetting"),
)


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
    claims: list[dict] = field(default_factory=list)  # {claim, metric, a, b}: "agrees" when b − a > noise


def load_grid(path: str | Path) -> Grid:
    path = Path(path)
    if not path.exists():
        raise UserError(f"study grid {path} not found; pass --grid FILE (see study/grid.yaml)")
    raw = yaml.safe_load(path.read_text()) or {}
    allowed = {"name", "common", "axes", "extra", "seeds", "claims"}
    unknown = sorted(set(raw) - allowed)
    if unknown:
        raise UserError(f"{path}: unknown keys {unknown}; allowed: {sorted(allowed)}")
    if not raw.get("axes"):
        raise UserError(f"{path}: `axes` is required: {{axis: {{level: {{params.key: value}}}}}}")
    seeds = raw.get("seeds") or {}
    grid = Grid(prefix=str(raw.get("name", "study")), common=dict(raw.get("common") or {}),
                axes={str(a): dict(levels) for a, levels in raw["axes"].items()},
                extra=dict(raw.get("extra") or {}), seeds=[int(s) for s in seeds.get("values", [0])],
                seeded_arms=list(seeds.get("arms", [])), claims=list(raw.get("claims") or []))
    for c in grid.claims:
        if not isinstance(c, dict) or set(c) != {"claim", "metric", "a", "b"}:
            raise UserError(f"{path}: each claims entry needs exactly claim, metric, a, b; got {c!r}")
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_]*", grid.prefix):
        raise UserError(f"{path}: name={grid.prefix!r} must be letters, digits and '_' (it prefixes git refs)")
    return grid


def expand(grid: Grid) -> list[Arm]:
    """Every product arm and extra arm; seeded arms once per seed, the others at the first seed."""
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
            raise UserError(f"study extra arm {name!r}: from={base!r} is not an arm; arms: {sorted(arms)}")
        arms[name] = {**arms[base], **(spec.get("set") or {})}
    missing = [a for a in grid.seeded_arms if a not in arms]
    if missing:
        raise UserError(f"study seeds.arms {missing} are not arms; arms: {sorted(arms)}")
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
        text = value if isinstance(value, str) else json.dumps(value)
        args += ["-S", f"{key}={text}"]
    return args


# ---------------------------------------------------------------------------------------------
# Running: thin wrappers over the dvc CLI (what a user would type), so the study is inspectable
# with `dvc queue status`, `dvc queue logs NAME` and `dvc exp show` while it runs.

def _run(args: list[str], cwd: Path, check: bool = True) -> str:
    proc = subprocess.run([dvc_bin(), *args], cwd=cwd, capture_output=True, text=True)
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


def run_arms(arms: list[Arm], cwd: Path, done: dict[str, dict], poll_s: float = 5.0) -> list[str]:
    """Queue the arms without results in `done` (exp_rows), run the queue serially, wait; returns the
    failed names."""
    todo = [a for a in arms if a.exp_name not in done]
    if not todo:
        return []
    for arm in todo:
        # A failed earlier try would clash by name; drop it so the rerun can reuse the name.
        _run(["exp", "remove", arm.exp_name], cwd, check=False)
        _run(["exp", "run", "--queue", "-n", arm.exp_name, *set_args(arm)], cwd)
    # One worker: the machine's cores are better spent on one training run at a time.
    _run(["queue", "start", "-j", "1"], cwd)
    names = {a.exp_name for a in todo}
    with bar(total=len(todo), desc="study", unit="exp") as pbar:
        finished: set[str] = set()
        while True:
            status = {k: v for k, v in queue_status(_run(["queue", "status"], cwd, check=False)).items()
                      if k in names}
            now = {k for k, v in status.items() if v in ("Success", "Failed")}
            pbar.update(len(now - finished))
            finished |= now
            running = [k for k, v in status.items() if v in ("Queued", "Running")]
            pbar.set_postfix(running=next((k for k, v in status.items() if v == "Running"), "-"))
            if not running and (finished or not status):
                break
            time.sleep(poll_s)
    failed = sorted(k for k, v in status.items() if v == "Failed")
    for name in failed:
        tail = _run(["queue", "logs", name], cwd, check=False).strip().splitlines()[-15:]
        print(f"study: experiment {name} failed; last lines of `dvc queue logs {name}`:\n  "
              + "\n  ".join(tail), file=sys.stderr)
    return failed


# ---------------------------------------------------------------------------------------------
# Reading: pure functions over the experiments' metrics.

def _get(metrics: dict, key: str) -> float | None:
    v = metrics.get(key)
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else None


def aggregate(arms: list[Arm], rows: dict[str, dict]) -> dict[str, dict]:
    """{arm: {"n": runs, "seeds": [...], key: (mean, spread)}}; spread = sample std over seeds (0 for one)."""
    out: dict[str, dict] = {}
    for name in dict.fromkeys(a.name for a in arms):
        mine = [a for a in arms if a.name == name]
        ran = [a for a in mine if a.exp_name in rows]
        runs = [rows[a.exp_name]["metrics"] for a in ran]
        entry: dict = {"n": len(runs), "seeds": [a.seed for a in ran],
                       "start": dict(mine[0].overrides).get("model.kind") or "default"}
        for key in [k for k, _ in COLUMNS] + list(START_KEYS):
            vals = [v for v in (_get(m, key) for m in runs) if v is not None]
            if vals:
                entry[key] = (statistics.fmean(vals), statistics.stdev(vals) if len(vals) > 1 else 0.0)
        out[name] = entry
    return out


def _cell(stat: tuple[float, float] | None, n: int) -> str:
    if stat is None:
        return "–"
    mean, spread = stat
    return f"{mean:.3f} ± {spread:.3f}" if n > 1 else f"{mean:.3f}"


def above_chance(agg: dict[str, dict]) -> list[str]:
    """Seeded arms whose held-out MC accuracy exceeds chance by more than 2x their seed spread."""
    hits = []
    for name, e in agg.items():
        stat = e.get("cpt.domain_qa_mc.acc")
        if e["n"] > 1 and stat and stat[0] - MC_CHANCE > 2 * stat[1]:
            hits.append(name)
    return hits


def _delta(agg: dict, a: str, b: str, key: str) -> tuple[float, float] | None:
    """b − a and the larger of the two spreads (the noise floor when comparing them)."""
    if a not in agg or b not in agg or key not in agg[a] or key not in agg[b]:
        return None
    (ma, sa), (mb, sb) = agg[a][key], agg[b][key]
    return mb - ma, max(sa, sb)


def _verdict(d: tuple[float, float] | None, claim: str, what: str) -> str:
    if d is None:
        return f"- {claim}: not measured (arms missing)."
    diff, noise = d
    floor = 2 * noise
    if abs(diff) <= floor or (noise == 0 and abs(diff) < 0.02):
        word = "no difference beyond noise"
    else:
        word = "agrees" if diff > 0 else "disagrees"
    return f"- {claim}: {what} {diff:+.3f} (noise floor ±{floor:.3f}) → **{word}**."


def reading(agg: dict[str, dict], prefix: str, claims: list[dict]) -> list[str]:
    """The grid's claims checked against this study's numbers, stated as measured."""
    return [_verdict(_delta(agg, f"{prefix}-{c['a']}", f"{prefix}-{c['b']}", c["metric"]), c["claim"],
                     f"`{c['metric']}` {c['b']} − {c['a']}") for c in claims]


def render(agg: dict[str, dict], grid: Grid, grid_file: str, failed: list[str], minutes: float,
           png_name: str, trained: int | None = None) -> str:
    prefix = grid.prefix
    heads = ["arm", "runs"] + [h for _, h in COLUMNS]
    lines = [
        "# cptpipe study",
        "",
        f"Grid `{grid_file}`; every arm is a DVC experiment (`dvc exp show` lists them as "
        f"`{prefix}-<arm>-s<seed>`). Values are the cpt checkpoint's; `± x` is the sample standard "
        "deviation over `mix.seed` runs (same start model and split, different sampling order). "
        f"Multiple-choice chance is {MC_CHANCE}; held-out EM chance is ~0. "
        f"Wall time of the runs this invocation: {minutes:.1f} min"
        + (f" ({trained} runs trained, the others reused from earlier invocations)." if trained is not None else "."),
        "",
        "| " + " | ".join(heads) + " |",
        "|" + "---|" * len(heads),
    ]
    for name, e in agg.items():
        cells = [name.removeprefix(prefix + "-"), str(e["n"])] + [_cell(e.get(k), e["n"]) for k, _ in COLUMNS]
        lines.append("| " + " | ".join(cells) + " |")
    starts = {}
    for e in agg.values():
        if "start.domain_qa_mc.acc" in e:
            starts.setdefault(e["start"], e)
    if starts:
        lines += ["", "Start models before training (the MC gain, replay ppl ratio and instruction-following "
                      "change of an arm are relative to its own start):", ""]
        for kind, e in starts.items():
            ppl = e.get("start.replay.ppl", (math.nan, 0))[0]
            follow = e.get("start.instruct.follow", (math.nan, 0))[0]
            lines.append(f"- `{kind}`: held-out MC acc {e['start.domain_qa_mc.acc'][0]:.3f}, held-out EM "
                         f"{e['start.domain_qa.em'][0]:.3f}, replay ppl {ppl:,.0f}, instr. follow {follow:.3f}.")
    hits = above_chance(agg)
    lines += ["", "## Above chance?", "",
              ("Held-out MC accuracy exceeds chance by more than 2× the seed spread for: "
               + ", ".join(f"`{h.removeprefix(prefix + '-')}`" for h in hits) + ".") if hits else
              "No seeded arm's held-out MC accuracy is above chance by more than 2× its seed spread: "
              "the differences below are not interpretable at this scale."]
    lines += ["", "## The seed's claims at this scale", ""] + (reading(agg, prefix, grid.claims) or ["(the grid declares no claims)"])
    lines += ["", "## Published figures (for reading, not reproduced)", "",
              "| source | metric | reported |", "|---|---|---|"]
    lines += [f"| {s} | {m} | {r} |" for s, m, r in PAPER]
    lines += ["", "Scale: the papers train 7B–70B pretrained models on real documents on GPUs; this study "
                  "trains a ~1M-parameter scratch Llama for a few CPU minutes per arm on a fictional "
                  "encyclopedia. Directions can be compared, magnitudes cannot.",
              "", f"![study]({png_name})"]
    if failed:
        lines += ["", "## Failed arms", "", "Rerun `make study` to retry them (finished arms are reused): "
                  + ", ".join(f"`{f}`" for f in failed)]
    return "\n".join(lines) + "\n"


def plot(agg: dict[str, dict], prefix: str, out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(agg)
    labels = [n.removeprefix(prefix + "-") for n in names]
    fig, axes = plt.subplots(1, 3, figsize=(15, 1.5 + 0.3 * len(names)), sharey=False)
    # Gain over start beside the absolute accuracy: the starts differ before any CPT. Held-out EM is
    # left to the table: at the scratch scale it is ~0 everywhere and its panel would be empty.
    panels = (("cpt.domain_qa_mc.acc", "held-out QA, multiple choice (acc)", MC_CHANCE),
              ("absorption.mc_gain", "held-out MC acc gain over the arm's start", 0.0),
              ("forgetting.ppl_ratio", "forgetting: replay perplexity cpt / start (log)", 1.0))
    for ax, (key, title, ref) in zip(axes, panels):
        means = [agg[n].get(key, (math.nan, 0))[0] for n in names]
        spreads = [agg[n].get(key, (math.nan, 0))[1] for n in names]
        colors = ["tab:orange" if agg[n]["start"] == "instruct" else "tab:blue" for n in names]
        ax.barh(range(len(names)), means, xerr=spreads, color=colors, capsize=3)
        ax.axvline(ref, color="black", ls=":", lw=1, label="chance" if key.endswith("acc") else "no change")
        ax.legend(loc="lower right", fontsize=8)
        if key == "forgetting.ppl_ratio":
            ax.set_xscale("log")  # ratios from ~0.1 to ~40: a linear axis hides the small ones
        ax.set_yticks(range(len(names)), labels if ax is axes[0] else [""] * len(names), fontsize=8)
        ax.invert_yaxis()
        ax.set_title(title, fontsize=10)
        ax.set_xlabel(key)
        ax.grid(axis="x", alpha=0.3)
    fig.suptitle("cptpipe study: mean ± seed std (blue: base start, orange: instruct start)")
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)


def run_study(grid_file: str | Path, cwd: str | Path = ".", out_md: str = "reports/study.md",
              out_png: str = "reports/study.png") -> str:
    cwd = Path(cwd)
    grid = load_grid(cwd / grid_file if not Path(grid_file).is_absolute() else grid_file)
    arms = expand(grid)
    t0 = time.time()
    before = exp_rows(cwd)
    trained = sum(1 for a in arms if a.exp_name not in before)
    failed = run_arms(arms, cwd, before)
    rows = exp_rows(cwd)
    agg = aggregate(arms, rows)
    (cwd / out_png).parent.mkdir(parents=True, exist_ok=True)
    plot(agg, grid.prefix, cwd / out_png)
    md = render(agg, grid, str(grid_file), failed, (time.time() - t0) / 60,
                Path(out_png).relative_to(Path(out_md).parent).as_posix(), trained)
    write_text(cwd / out_md, md)
    n = sum(1 for a in arms if a.exp_name in rows)
    return f"{n}/{len(arms)} runs with metrics, {len(failed)} failed -> {out_md}, {out_png}"

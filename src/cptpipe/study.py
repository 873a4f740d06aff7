"""`cptpipe study`: the QA-exposure study as queued `dvc exp run`s and one honest comparison table.

A grid file (study/grid.yaml) declares axes of params overrides; every combination is an arm, run
as a named DVC experiment so `dvc exp show` lists it with its params and metrics. Headline arms run
once per `mix.seed` value: only the sampling order changes, so their spread is run-to-run noise.
Arms whose experiment already exists on the current commit are reused (a crashed or interrupted
study resumes where it stopped) and labelled as reused in the report; `--fresh` removes them first.
"""

from __future__ import annotations

import itertools
import json
import math
import os
import re
import statistics
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Container
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from cptpipe.errors import UserError
from cptpipe.io import write_text
from cptpipe.progress import bar
from cptpipe.report.compare import dvc_bin, exp_show, rows_from_exp_show

MC_CHANCE = 0.25  # domain_qa_mc has 4 options
EM = "cpt.domain_qa.em"  # the headline: held-out factual QA, exact match of the generated answer
MC = "cpt.domain_qa_mc.acc"  # secondary: moves before EM does, but 0.25 is free
FOLLOW = ("start.instruct.follow", "cpt.instruct.follow")

# Metrics of the table after arm and seed count: (metrics.json path, column header). FOLLOW is one
# "start → cpt" column, placed where None stands.
COLUMNS = (
    (EM, "held-out EM"),
    ("cpt.domain_qa_seen.em", "seen-QA EM"),
    # stored vs extracted: held-out facts completed in their own documents' sentences, and how many
    # wrong held-out answers are a trained question's answer (QA memorized instead of extraction)
    ("cpt.domain_recall.em", "held-out recall"),
    ("cpt.domain_qa.wrong_from_seen", "wrong = trained answer"),
    (MC, "held-out MC acc"),
    ("forgetting.ppl_ratio", "replay ppl ratio"),
    (None, "instr. follow start → cpt"),
    ("absorption.em_gain", "EM gain over start"),
)
CLAIM_KEYS = {"claim", "metric", "a", "b"}  # required; min_diff is optional

# Published figures the study is read against (quoted, not reproduced).
PAPER = (
    (
        "Jiang et al. 2024 (arXiv 2402.12847), Llama-2 7B",
        "held-out QA EM",
        "standard instruction-tuning (documents, then QA) 30.3 → pre-instruction-tuning (PIT++) 48.1",
    ),
    ("Jiang et al. 2024, Llama-2 70B", "held-out QA EM", "46.4 → 62.7"),
    (
        "Ovadia et al. 2025 (Knowledge-Instruct, arXiv 2504.05571)",
        "QA on fictional companies",
        "plain CPT 4.2 → knowledge-instruct (QA/paraphrase injection) 81.8",
    ),
    ("cptpipe's mix.replay range", "forgetting", "5–10% replay of general data limits forgetting"),
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
    # {claim, metric, a, b[, min_diff]}: "agrees" when b − a > max(min_diff, 2x the larger seed spread)
    claims: list[dict] = field(default_factory=list)


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
    grid = Grid(
        prefix=str(raw.get("name", "study")),
        common=dict(raw.get("common") or {}),
        axes={str(a): dict(levels) for a, levels in raw["axes"].items()},
        extra=dict(raw.get("extra") or {}),
        seeds=[int(s) for s in seeds.get("values", [0])],
        seeded_arms=list(seeds.get("arms", [])),
        claims=list(raw.get("claims") or []),
    )
    problems = []
    for c in grid.claims:
        if not isinstance(c, dict) or not CLAIM_KEYS <= set(c) <= CLAIM_KEYS | {"min_diff"}:
            problems.append(f"each claims entry needs claim, metric, a, b and optionally min_diff; got {c!r}")
        elif "min_diff" in c and not (isinstance(c["min_diff"], (int, float)) and c["min_diff"] >= 0):
            problems.append(
                f"claim {c['claim']!r}: min_diff must be a number >= 0 (metric units), got {c['min_diff']!r}"
            )
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_]*", grid.prefix):
        problems.append(f"name={grid.prefix!r} must be letters, digits and '_' (it prefixes git refs)")
    if problems:
        raise UserError(f"{path}: " + "; ".join(problems))
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
    problems = []
    for name, spec in grid.extra.items():
        base = spec.get("from")
        if base not in arms:
            problems.append(f"extra arm {name!r}: from={base!r} is not an arm")
            continue
        arms[name] = {**arms[base], **(spec.get("set") or {})}
    if missing := [a for a in grid.seeded_arms if a not in arms]:
        problems.append(f"seeds.arms {missing} are not arms")
    for c in grid.claims:
        if missing := [c[k] for k in ("a", "b") if c[k] not in arms]:
            problems.append(f"claim {c['claim']!r}: {missing} are not arms")
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
        text = value if isinstance(value, str) else json.dumps(value)
        args += ["-S", f"{key}={text}"]
    return args


# ---------------------------------------------------------------------------------------------
# Running: thin wrappers over the dvc CLI (what a user would type), so the study is inspectable
# with `dvc queue status`, `dvc queue logs NAME` and `dvc exp show` while it runs.


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
    """Arms that build a start model of their own first, the rest in grid order.

    The start shared by most arms is built once (DVC's run cache); an arm with other `model.*`
    values builds its own (the instruct start: ~4x a base arm's time); queued last it would run
    alone on one core at the end.
    """

    def model_keys(arm: Arm) -> str:
        return json.dumps([kv for kv in arm.overrides if kv[0].startswith("model.")])

    if not arms:
        return []
    shared = Counter(map(model_keys, arms)).most_common(1)[0][0]
    return sorted(arms, key=lambda a: model_keys(a) == shared)  # stable: grid order within each group


def run_arms(
    arms: list[Arm], cwd: Path, done: dict[str, dict], poll_s: float = 5.0, jobs: int = 1, desc: str = "study"
) -> list[str]:
    """Queue the arms without results in `done` (exp_rows), run the queue with `jobs` workers, wait;
    returns the failed names."""
    todo = queue_order([a for a in arms if a.exp_name not in done])
    if not todo:
        return []
    for arm in todo:
        # A failed earlier try would clash by name; drop it so the rerun can reuse the name.
        _run(["exp", "remove", arm.exp_name], cwd, check=False)
        _run(["exp", "run", "--queue", "-n", arm.exp_name, *set_args(arm)], cwd)
    # Tiny CPU models use cores poorly: on 2 cores two 1-thread runs train ~1.3x the tokens per second
    # of one 2-thread run (2 x 2.6k vs 3.9k tok/s), so the cores are split between `jobs` workers.
    _run(["queue", "start", "-j", str(jobs)], cwd, env=worker_env(jobs))
    names = {a.exp_name for a in todo}
    with bar(total=len(todo), desc=desc, unit="exp") as pbar:
        finished: set[str] = set()
        while True:
            status = {k: v for k, v in queue_status(_run(["queue", "status"], cwd, check=False)).items() if k in names}
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
        print(
            f"{desc}: experiment {name} failed; last lines of `dvc queue logs {name}`:\n  " + "\n  ".join(tail),
            file=sys.stderr,
        )
    return failed


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


def _mean(e: dict, key: str) -> float | None:
    stat = e["stats"].get(key)
    return stat[0] if stat else None


def cell(stat: tuple[float, float | None] | None) -> str:
    if stat is None:
        return "–"
    mean, spread = stat
    return f"{mean:.3f}" if spread is None else f"{mean:.3f} ± {spread:.3f}"


def clears(agg: dict[str, dict], key: str, ref: dict[str, float | None]) -> tuple[list[str], list[str]]:
    """(arms whose mean `key` exceeds ref[arm] by more than 2x their seed spread, arms not checkable:
    one run, so no spread, or the metric or reference missing)."""
    hits, unchecked = [], []
    for name, e in agg.items():
        stat = e["stats"].get(key)
        if stat is None or stat[1] is None or ref.get(name) is None:
            unchecked.append(name)
        elif stat[0] - ref[name] > 2 * stat[1]:
            hits.append(name)
    return hits, unchecked


def verdict(agg: dict[str, dict], prefix: str, claim: dict) -> str:
    """One claim checked: `agrees` only when b − a > max(min_diff, 2x the larger seed spread)."""
    a, b, key = claim["a"], claim["b"], claim["metric"]
    min_diff = float(claim.get("min_diff", 0.0))
    what = f"`{key}` {b} − {a}"
    sa, sb = (agg.get(f"{prefix}-{x}", {}).get("stats", {}).get(key) for x in (a, b))
    if sa is None or sb is None:
        missing = [x for x, s in ((a, sa), (b, sb)) if s is None]
        return f"- {claim['claim']}: {what}: not measured (no runs with `{key}` for {', '.join(missing)})."
    diff = sb[0] - sa[0]
    unknown = [x for x, s in ((a, sa), (b, sb)) if s[1] is None]
    floor = 2 * max((s[1] for s in (sa, sb) if s[1] is not None), default=0.0)
    if diff > max(min_diff, floor):
        word = "agrees"
    elif diff < -floor:
        word = "disagrees"
    elif diff > floor:
        word = "beyond noise but below min_diff"
    else:
        word = "no difference beyond noise"
    floor_text = f"±{floor:.3f}"
    if unknown:
        # One run has no spread: the real floor is at least the other arm's, so only "within" is firm.
        bound = "unknown" if len(unknown) == 2 else f"≥ ±{floor:.3f}"
        runs = ", ".join(f"`{x}`" for x in unknown)
        floor_text = f"{bound}, seed spread unknown for {runs} (one run)"
        if word != "no difference beyond noise":
            word += ", unconfirmed"
    return (
        f"- {claim['claim']}: {what} = {diff:+.3f} (noise floor 2× seed spread {floor_text}; "
        f"min_diff {min_diff:.3f}) → **{word}**."
    )


def reading(agg: dict[str, dict], prefix: str, claims: list[dict]) -> list[str]:
    """The grid's claims checked against this study's numbers, stated as measured."""
    return [verdict(agg, prefix, c) for c in claims]


def _row(name: str, e: dict) -> str:
    cells = [name, str(e["n"])]
    for key, _ in COLUMNS:
        if key is None:
            start, cpt = e["stats"].get(FOLLOW[0]), e["stats"].get(FOLLOW[1])
            cells.append(("–" if start is None else f"{start[0]:.3f}") + f" → {cell(cpt)}")
        else:
            cells.append(cell(e["stats"].get(key)))
    cells.append(f"{e['new']}/{e['reused']}")
    return "| " + " | ".join(cells) + " |"


def _provenance(agg: dict[str, dict], short: dict[str, str], failed: list[str], minutes: float) -> list[str]:
    """The header line on this invocation and the note on reused numbers beside the table."""
    new = sum(e["new"] for e in agg.values())
    reused = {short[n]: e for n, e in agg.items() if e["reused"]}
    total = sum(e["n"] for e in agg.values())
    head = (
        f"This invocation: {minutes:.1f} min wall, {new} runs trained and measured in it"
        + (f", {len(failed)} failed" if failed else "")
        + f", {total - new} reused from earlier invocations."
    )
    if not reused:
        note = "Every number in the table was measured in this invocation (column `trained here/reused`)."
    else:
        note = (
            f"**Reused numbers:** {total - new} of the {total} runs in the table were measured by earlier "
            "invocations of `cptpipe study` on this commit, not in this one: "
            + ", ".join(f"`{n}` ({e['reused']} of {e['n']})" for n, e in reused.items())
            + ". `cptpipe study --fresh` removes them and measures every run again."
        )
    return [head, note]


def _starts(agg: dict[str, dict], short: dict[str, str]) -> list[str]:
    """Per start kind: the start model's own numbers, and instruction-following after CPT by arm."""
    lines = []
    for kind in dict.fromkeys(e["start"] for e in agg.values()):
        mine = {n: e for n, e in agg.items() if e["start"] == kind}
        e = next((e for e in mine.values() if e["stats"]), None)
        if e is None:
            continue
        vals = {k: _mean(e, k) for k in ("start.domain_qa.em", "start.domain_qa_mc.acc", "start.replay.ppl", FOLLOW[0])}
        fmt = {k: "–" if v is None else f"{v:,.0f}" if k.endswith("ppl") else f"{v:.3f}" for k, v in vals.items()}
        after = ", ".join(f"`{short[n]}` {cell(x['stats'].get(FOLLOW[1]))}" for n, x in mine.items() if x["n"])
        lines.append(
            f"- `{kind}` start: held-out EM {fmt['start.domain_qa.em']}, held-out MC acc "
            f"{fmt['start.domain_qa_mc.acc']}, replay ppl {fmt['start.replay.ppl']}, instr. follow "
            f"{fmt[FOLLOW[0]]} before CPT; after CPT: {after}."
        )
    return lines


def _above(agg: dict[str, dict], short: dict[str, str]) -> list[str]:
    def names(xs: list[str]) -> str:
        return ", ".join(f"`{short[x]}`" for x in xs)

    em_hits, em_skip = clears(agg, EM, {n: _mean(e, "start.domain_qa.em") for n, e in agg.items()})
    mc_hits, _ = clears(agg, MC, dict.fromkeys(agg, MC_CHANCE))
    if len(em_skip) == len(agg):
        lines = ["No arm has held-out EM from more than one seed: none can be checked against a seed spread."]
    elif em_hits:
        lines = [f"Held-out EM exceeds the start's held-out EM by more than 2× the seed spread for: {names(em_hits)}."]
    else:
        lines = [
            (
                "No arm's held-out EM exceeds its start's by more than 2× its seed spread: the EM differences "
                "below are not interpretable at this scale."
            )
        ]
    if em_skip:
        lines.append(f"Not checkable (one run, so no spread, or no EM): {names(em_skip)}.")
    lines.append(
        "Secondary, multiple choice: held-out MC accuracy exceeds chance "
        f"({MC_CHANCE}) by more than 2× the seed spread for: {names(mc_hits) or 'no arm'}."
    )
    return lines


def failed_lines(what: str, rerun: str, failed: list[str]) -> list[str]:
    """The closing section of a study or sweep report that lists its failed runs (none: nothing)."""
    if not failed:
        return []
    retry = f"{rerun} to retry them (finished {what} are reused): " + ", ".join(f"`{f}`" for f in failed)
    return ["", f"## Failed {what}", "", retry]


def render(agg: dict[str, dict], grid: Grid, grid_file: str, failed: list[str], minutes: float, png_name: str) -> str:
    prefix = grid.prefix
    short = {n: n.removeprefix(prefix + "-") for n in agg}
    heads = ["arm", "runs"] + [h for _, h in COLUMNS] + ["trained here/reused"]
    head, note = _provenance(agg, short, failed, minutes)
    lines = [
        "# cptpipe study",
        "",
        (
            f"Grid `{grid_file}`; every arm is a DVC experiment (`dvc exp show` lists them as "
            f"`{prefix}-<arm>-s<seed>`). Values are the cpt checkpoint's; `± x` is the sample standard "
            "deviation over `mix.seed` runs (same start model and split, different sampling order); a value "
            "without `±` is one run, its spread unknown. The headline is held-out EM: exact match of the "
            "generated answer to factual questions about training documents whose QA was never trained on. "
            f"Held-out EM chance is ~0; multiple-choice chance is {MC_CHANCE}. {head}"
        ),
        "",
        "| " + " | ".join(heads) + " |",
        "|" + "---|" * len(heads),
        *(_row(short[n], e) for n, e in agg.items()),
        "",
        note,
    ]
    if starts := _starts(agg, short):
        lines += [
            "",
            (
                "Start models before training (an arm's EM gain, replay ppl ratio and "
                "instruction-following change are relative to its own start):"
            ),
            "",
            *starts,
        ]
    lines += ["", "## Above chance?", "", *_above(agg, short)]
    lines += ["", "## The study's claims at this scale", ""] + (
        reading(agg, prefix, grid.claims) or ["(the grid declares no claims)"]
    )
    lines += [
        "",
        "## Published figures (for reading, not reproduced)",
        "",
        "| source | metric | reported |",
        "|---|---|---|",
    ]
    lines += [f"| {s} | {m} | {r} |" for s, m, r in PAPER]
    lines += [
        "",
        (
            "Scale: the papers train 7B–70B pretrained models on real documents on GPUs; this study "
            "trains a ~1M-parameter scratch Llama for a few CPU minutes per arm on a fictional "
            "encyclopedia. Directions can be compared, magnitudes cannot."
        ),
        "",
        f"![study]({png_name})",
    ]
    lines += failed_lines("arms", "Rerun `make study`", failed)
    return "\n".join(lines) + "\n"


def plot(agg: dict[str, dict], prefix: str, out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(agg)
    ys = range(len(names))

    def col(key: str, i: int) -> list[float]:
        stats = [agg[n]["stats"].get(key) for n in names]
        return [math.nan if s is None else 0.0 if s[i] is None else s[i] for s in stats]

    fig, axes = plt.subplots(1, 3, figsize=(15, 1.8 + 0.3 * len(names)))
    colors = ["tab:orange" if agg[n]["start"] == "instruct" else "tab:blue" for n in names]
    panels = (
        (EM, "held-out QA exact match (◆ seen QA, | start)", None),
        (MC, "held-out QA, multiple choice (acc)", MC_CHANCE),
        ("forgetting.ppl_ratio", "forgetting: replay perplexity cpt / start (log)", 1.0),
    )
    for ax, (key, title, ref) in zip(axes, panels):
        ax.barh(ys, col(key, 0), xerr=col(key, 1), color=colors, capsize=3)
        if key == EM:
            # seen EM beside held-out EM: a gap is memorised-but-not-generalised knowledge
            ax.plot(col("cpt.domain_qa_seen.em", 0), ys, "kD", ms=5, label="seen-QA EM")
            ax.plot(col("start.domain_qa.em", 0), ys, "|", color="grey", ms=12, mew=2, label="start held-out EM")
        else:
            ax.axvline(ref, color="black", ls=":", lw=1, label="chance" if key == MC else "no change")
        if key == "forgetting.ppl_ratio":
            ax.set_xscale("log")  # ratios from ~0.1 to ~40: a linear axis hides the small ones
        ax.legend(loc="best", fontsize=7)
        ax.set_yticks(
            ys, [n.removeprefix(prefix + "-") for n in names] if ax is axes[0] else [""] * len(names), fontsize=8
        )
        ax.invert_yaxis()
        ax.set_title(title, fontsize=10)
        ax.set_xlabel(key)
        ax.grid(axis="x", alpha=0.3)
    fig.suptitle("cptpipe study: mean ± seed std (blue: base start, orange: instruct start)")
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)


def run_study(
    grid_file: str | Path, out_md: str | Path, cwd: str | Path = ".", fresh: bool = False, jobs: int = 1
) -> str:
    """Run the grid's missing arms (all of them with fresh=True) and write the report to out_md, its
    figure beside it (.png); both relative to cwd unless absolute."""
    cwd, out_png = Path(cwd), Path(out_md).with_suffix(".png")
    grid = load_grid(cwd / grid_file if not Path(grid_file).is_absolute() else grid_file)
    arms = expand(grid)
    t0 = time.time()
    before = exp_rows(cwd)
    if fresh and (old := [a.exp_name for a in arms if a.exp_name in before]):
        _run(["exp", "remove", *old], cwd)
        before = exp_rows(cwd)
    failed = run_arms(arms, cwd, before, jobs=jobs)
    rows = exp_rows(cwd)
    agg = aggregate(arms, rows, set(before))
    (cwd / out_png).parent.mkdir(parents=True, exist_ok=True)
    plot(agg, grid.prefix, cwd / out_png)
    md = render(agg, grid, str(grid_file), failed, (time.time() - t0) / 60, out_png.name)
    write_text(cwd / out_md, md)
    n = sum(e["n"] for e in agg.values())
    new = sum(e["new"] for e in agg.values())
    return (
        f"{n}/{len(arms)} runs with metrics, {len(failed)} failed, {new} trained in this invocation, "
        f"{n - new} reused -> {out_md}, {out_png}"
    )

"""`cptpipe sweep`: choose mix ratios and learning rates by measurement.

A sweep file (study/sweep.yaml) names params keys and their values (a full grid) or ranges (a
seeded random or Latin-hypercube sample). Every point runs once per seed as a named, queued
`dvc exp run` through `cptpipe.runner` (finished experiments on this commit are reused), and is
read back from `dvc exp show --json`. Each point is then placed by its forgetting (x, lower is
better) and absorption (y, higher is better): the Pareto front is the set no other point beats on
both, and the recommended setting is the front member that absorbs most while its forgetting stays
within the budget (`max_forgetting`). Extra arms (`extra`: named settings beside the grid, such as
another schedule) run and are read the same way, but stay off the front: they are compared with the
recommended point instead, so a setting the grid cannot express is judged against the grid's best.
"""

from __future__ import annotations

import itertools
import math
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import yaml

from cptpipe.errors import UserError
from cptpipe.io import write_text
from cptpipe.runner import Arm, Grid, aggregate, cell, expand, failed_lines, run_grid

SAMPLE_METHODS = ("random", "lhs")
SPEC_KEYS = {
    "name",
    "common",
    "grid",
    "sample",
    "extra",
    "complement",
    "seeds",
    "absorption",
    "forgetting",
    "max_forgetting",
    "axis",
}


@dataclass
class Sweep:
    prefix: str
    common: dict[str, object]
    points: list[dict[str, object]]  # the swept keys' values of each point, before complements
    seeds: list[int]
    absorption: str  # metrics.json key, higher is better
    forgetting: str  # metrics.json key, lower is better
    max_forgetting: float | None
    complement: dict[str, list[str]] = field(default_factory=dict)  # key = 1 - sum(keys)
    axis: str | None = None  # the swept key the fitted trade-off is drawn along
    extra: dict[str, dict[str, object]] = field(default_factory=dict)  # arm name -> its overrides, off the front

    @property
    def keys(self) -> list[str]:
        return list(dict.fromkeys(k for p in self.points for k in p))


def sample_points(ranges: dict[str, list], n: int, method: str, seed: int) -> list[dict[str, float]]:
    """`n` seeded points in `ranges` ({key: [low, high] or [low, high, "log"]}): uniform random,
    or a Latin hypercube (each key's range cut into n strata, one point per stratum)."""
    from scipy.stats import qmc

    keys = list(ranges)
    rng = np.random.default_rng(seed)
    unit = qmc.LatinHypercube(d=len(keys), seed=rng).random(n) if method == "lhs" else rng.random((n, len(keys)))
    points = []
    for row in unit:
        point = {}
        for key, u in zip(keys, row):
            low, high, *scale = ranges[key]
            if scale == ["log"]:
                value = math.exp(math.log(low) + u * (math.log(high) - math.log(low)))
            else:
                value = low + u * (high - low)
            point[key] = float(f"{value:.3g}")  # names and params stay readable
        points.append(point)
    return points


def _params_value(params: dict, key: str) -> object:
    node: object = params
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            raise UserError(f"params.yaml has no key {key!r}")
        node = node[part]
    return node


def with_complements(point: dict[str, object], complement: dict[str, list[str]], defaults: dict) -> dict[str, object]:
    """The point plus each complement key set to 1 minus its parts (from the point, else `defaults`,
    the common overrides over params.yaml), so mix shares still sum to 1 wherever replay moves."""
    out = dict(point)
    for key, parts in complement.items():
        total = sum(float(point[p] if p in point else defaults[p]) for p in parts)
        out[key] = round(1.0 - total, 6)
        if out[key] < 0:
            raise UserError(f"sweep point {point}: {key} = 1 - ({' + '.join(parts)}) = {out[key]} < 0")
    return out


def point_name(point: dict[str, object]) -> str:
    """`replay0.05-lr0.001`: each swept key's last part and its value (a valid git ref component)."""
    parts = []
    for key, value in point.items():
        text = value if isinstance(value, str) else f"{value:g}" if isinstance(value, float) else str(value)
        parts.append(f"{key.rsplit('.', 1)[-1]}{text}")
    return re.sub(r"[^A-Za-z0-9._-]+", "_", "-".join(parts))


def _valid_range(r) -> bool:
    return (
        isinstance(r, list)
        and len(r) in (2, 3)
        and all(isinstance(x, (int, float)) for x in r[:2])
        and r[0] < r[1]
        and (len(r) == 2 or (r[2] == "log" and r[0] > 0))
    )


def _sweep_points(raw: dict, problems: list[str]) -> list[dict[str, object]]:
    """The points of a sweep file's `grid` (full product) or `sample`; problems appended, not raised."""
    grid, sample = raw.get("grid"), raw.get("sample")
    if bool(grid) == bool(sample):
        problems.append(
            "give exactly one of `grid` ({key: [values]}) and `sample` "
            "({method: random|lhs, n: N, seed: S, ranges: {key: [low, high(, log)]}})"
        )
        return []
    if grid:
        if not all(isinstance(v, list) and v for v in grid.values()):
            problems.append("grid: each key needs a non-empty list of values")
            return []
        return [dict(zip(grid, combo)) for combo in itertools.product(*grid.values())]
    method, ranges = sample.get("method", "lhs"), sample.get("ranges") or {}
    if method not in SAMPLE_METHODS:
        problems.append(f"sample.method={method!r}; allowed: {list(SAMPLE_METHODS)}")
    bad = [k for k, r in ranges.items() if not _valid_range(r)]
    if not ranges or bad:
        problems.append(
            f"sample.ranges: each key needs [low, high] or [low, high, log] with low < high "
            f"(log: low > 0); check {bad or 'ranges (empty)'}"
        )
        return []
    if method not in SAMPLE_METHODS:
        return []
    return sample_points(ranges, int(sample.get("n", 6)), method, int(sample.get("seed", 0)))


def _extra_arms(raw: dict, points: list[dict], complement: dict, params: dict, problems: list[str]) -> dict:
    """The sweep file's `extra` arms {name: {params.key: value}}; problems appended, not raised."""
    extra = raw.get("extra") or {}
    if not isinstance(extra, dict):
        problems.append("extra: give {arm: {params.key: value}}")
        return {}
    taken = {point_name(p) for p in points}
    arms = {}
    for name, sets in extra.items():
        where = f"extra.{name}"
        if not re.fullmatch(r"[A-Za-z0-9_-]+", str(name)):
            problems.append(f"{where}: the name must be letters, digits, '_' and '-' (it names experiments)")
        if str(name) in taken:
            problems.append(f"{where}: the name is a grid point's; rename the arm")
        if not isinstance(sets, dict) or not sets:
            problems.append(f"{where}: give a non-empty {{params.key: value}}")
            continue
        for key in sets:
            try:
                _params_value(params, key)
            except UserError as e:
                problems.append(f"{where}: {e}")
        if fixed := sorted(set(sets) & set(complement)):
            # set by `complement` from its parts, as for the points: a value here would be overwritten
            problems.append(f"{where}: {fixed} are complements (1 - their parts); set the parts instead")
        arms[str(name)] = dict(sets)
    return arms


def load_sweep(path: str | Path, params: dict) -> Sweep:
    """Parse and check a sweep file against params.yaml (`params`, raw); every problem at once."""
    path = Path(path)
    if not path.exists():
        raise UserError(f"sweep file {path} not found; pass --grid FILE (see study/sweep.yaml)")
    raw = yaml.safe_load(path.read_text()) or {}
    problems = []
    if unknown := sorted(set(raw) - SPEC_KEYS):
        problems.append(f"unknown keys {unknown}; allowed: {sorted(SPEC_KEYS)}")
    points = _sweep_points(raw, problems)
    common = dict(raw.get("common") or {})
    complement = {str(k): list(v) for k, v in (raw.get("complement") or {}).items()}
    swept = list(dict.fromkeys(k for p in points for k in p))
    for key in [*swept, *common, *complement, *(p for parts in complement.values() for p in parts)]:
        try:
            _params_value(params, key)
        except UserError as e:
            problems.append(str(e))
    if len({k.rsplit(".", 1)[-1] for k in swept}) < len(swept):
        problems.append(f"swept keys {swept} must differ in their last part (it names the experiments)")
    axis = raw.get("axis")
    if axis is not None and axis not in swept:
        problems.append(f"axis={axis!r} is not a swept key; swept: {swept}")
    budget = raw.get("max_forgetting")
    if budget is not None and not isinstance(budget, (int, float)):
        problems.append(f"max_forgetting={budget!r} must be a number (units of `forgetting`) or null")
    extra = _extra_arms(raw, points, complement, params, problems)
    prefix = str(raw.get("name", "sweep"))
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_]*", prefix):
        problems.append(f"name={prefix!r} must be letters, digits and '_' (it prefixes git refs)")
    if problems:
        raise UserError(f"{path}: " + "; ".join(problems))
    return Sweep(
        prefix=prefix,
        common=common,
        points=points,
        seeds=[int(s) for s in raw.get("seeds", [0])],
        absorption=str(raw.get("absorption", "cpt.domain_qa.em")),
        forgetting=str(raw.get("forgetting", "forgetting.ppl_ratio")),
        max_forgetting=None if budget is None else float(budget),
        complement=complement,
        axis=axis,
        extra=extra,
    )


def as_grid(sweep: Sweep, params: dict) -> Grid:
    """The sweep as a study grid: one axis whose levels are the points and the extra arms, each seeded."""
    defaults = {}
    for parts in sweep.complement.values():
        for p in parts:
            defaults[p] = sweep.common.get(p, _params_value(params, p))
    arms = [(point_name(p), p) for p in sweep.points] + list(sweep.extra.items())
    levels = {name: with_complements(sets, sweep.complement, defaults) for name, sets in arms}
    return Grid(
        prefix=sweep.prefix, common=sweep.common, axes={"point": levels}, seeds=sweep.seeds, seeded_arms=list(levels)
    )


# ---------------------------------------------------------------------------------------------
# Reading: pure functions over aggregated points {name: {"x": (mean, spread), "y": (...), ...}}.


def pareto_front(points: dict[str, tuple[float, float]]) -> list[str]:
    """Names of the points no other point dominates (x lower-or-equal and y higher-or-equal, one
    strictly), by rising x."""
    front = []
    for name, (x, y) in points.items():
        dominated = any(x2 <= x and y2 >= y and (x2 < x or y2 > y) for n2, (x2, y2) in points.items() if n2 != name)
        if not dominated:
            front.append(name)
    return sorted(front, key=lambda n: (points[n][0], -points[n][1]))


def recommend(points: dict[str, tuple[float, float]], front: list[str], budget: float | None) -> str | None:
    """The front member with the most absorption whose forgetting is within the budget (None: none is)."""
    ok = [n for n in front if budget is None or points[n][0] <= budget]
    return max(ok, key=lambda n: (points[n][1], -points[n][0])) if ok else None


def monotone_fit(xs: list[float], ys: list[float]) -> tuple[np.ndarray, np.ndarray, float]:
    """Isotonic (monotone, direction chosen by the data) least-squares fit of ys over xs:
    (distinct xs, fitted values there, RMS residual of the measured ys)."""
    from sklearn.isotonic import IsotonicRegression

    x, y = np.asarray(xs, float), np.asarray(ys, float)
    with warnings.catch_warnings():
        # "auto" warns when the Spearman interval spans zero, as it does for a handful of points;
        # the report prints the fitted values and residuals, so a flat or doubtful trend is visible
        warnings.simplefilter("ignore", UserWarning)
        fit = IsotonicRegression(increasing="auto").fit(x, y)
    grid = np.unique(x)
    rms = float(np.sqrt(np.mean((fit.predict(x) - y) ** 2)))
    return grid, fit.predict(grid), rms


def crossing(grid: np.ndarray, fitted: np.ndarray, budget: float) -> float | None:
    """Where the fitted curve crosses `budget` (linear between fitted points), falling (replay: more
    of it, less forgetting) or rising (LR); the first axis value when it is within everywhere; None
    if it never is within."""
    if np.all(fitted <= budget):
        return float(grid[0])
    for (x0, y0), (x1, y1) in zip(zip(grid, fitted), zip(grid[1:], fitted[1:])):
        if (y1 <= budget < y0) or (y0 <= budget < y1):
            return float(x0 + (y0 - budget) * (x1 - x0) / (y0 - y1))
    return None


@dataclass
class Reading:
    stats: dict[str, dict]  # point or extra arm -> {"x", "y": (mean, spread | None), "n", "new", "params": {...}}
    front: list[str]  # of the grid's points only, as is `best`
    best: str | None
    fits: list[dict] = field(default_factory=list)  # per group of the non-axis keys: the 1-D fits


def read_sweep(sweep: Sweep, grid: Grid, arms: list[Arm], rows: dict[str, dict], before: set[str]) -> Reading:
    agg = aggregate(arms, rows, before)
    stats = {}
    for name, e in agg.items():
        x, y = e["stats"].get(sweep.forgetting), e["stats"].get(sweep.absorption)
        if x is None or y is None:
            continue
        short = name.removeprefix(grid.prefix + "-")
        stats[short] = {
            "x": x,
            "y": y,
            "n": e["n"],
            "new": e["new"],
            "params": grid.axes["point"][short],
            "runs": [rows[a.exp_name]["metrics"] for a in arms if a.name == name and a.exp_name in rows],
        }
    points = {n: s for n, s in stats.items() if n not in sweep.extra}
    means = {n: (s["x"][0], s["y"][0]) for n, s in points.items()}
    front = pareto_front(means)
    reading = Reading(stats=stats, front=front, best=recommend(means, front, sweep.max_forgetting))
    if sweep.axis:
        reading.fits = axis_fits(sweep, points)
    return reading


def axis_fits(sweep: Sweep, stats: dict[str, dict]) -> list[dict]:
    """Per setting of the other swept keys: monotone fits of forgetting and absorption along the axis
    over the runs of every seed, and where forgetting falls within the budget."""
    groups: dict[tuple, list[dict]] = {}
    others = [k for k in sweep.keys if k != sweep.axis]
    for s in stats.values():
        groups.setdefault(tuple((k, s["params"][k]) for k in others), []).append(s)
    fits = []
    for group, members in groups.items():
        if len({m["params"][sweep.axis] for m in members}) < 2:
            continue
        entry = {"group": dict(group)}
        for which, key in (("x", sweep.forgetting), ("y", sweep.absorption)):
            xs = [float(m["params"][sweep.axis]) for m in members for r in m["runs"] if key in r]
            ys = [float(r[key]) for m in members for r in m["runs"] if key in r]
            grid_x, fitted, rms = monotone_fit(xs, ys)
            entry[which] = {"axis": grid_x.tolist(), "fitted": fitted.tolist(), "rms": rms, "xs": xs, "ys": ys}
        if sweep.max_forgetting is not None:
            entry["crossing"] = crossing(
                np.array(entry["x"]["axis"]), np.array(entry["x"]["fitted"]), sweep.max_forgetting
            )
        fits.append(entry)
    return fits


def _fmt(value: object) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def _role(sweep: Sweep, reading: Reading, name: str) -> str:
    """extra, recommended, front or off: how the table and the figure mark a point or arm."""
    if name in sweep.extra:
        return "extra"
    if name == reading.best:
        return "recommended"
    return "front" if name in reading.front else "off"


def _point_rows(sweep: Sweep, reading: Reading, keys: list[str]) -> list[str]:
    lines = []
    for name, s in sorted(reading.stats.items(), key=lambda kv: kv[1]["x"][0]):
        mark = {"extra": "extra", "recommended": "**recommended**", "front": "yes", "off": ""}[
            _role(sweep, reading, name)
        ]
        lines.append(
            "| "
            + " | ".join(
                [
                    f"`{name}`",
                    # an extra arm leaves unset keys at `common` / params.yaml: shown as "·", not a value
                    *(_fmt(s["params"][k]) if k in s["params"] else "·" for k in keys),
                    str(s["n"]),
                    cell(s["x"]),
                    cell(s["y"]),
                    mark,
                    str(s["new"]),
                ]
            )
            + " |"
        )
    return lines


def _front_lines(reading: Reading) -> list[str]:
    lines: list[str] = []
    lines += ["", "## Pareto front", ""]
    lines += [
        f"- `{n}`: forgetting {cell(reading.stats[n]['x'])}, absorption {cell(reading.stats[n]['y'])}; "
        + ", ".join(f"`{k}={_fmt(v)}`" for k, v in reading.stats[n]["params"].items())
        for n in reading.front
    ] or ["(no point has both metrics)"]
    return lines


def _recommendation_lines(sweep: Sweep, reading: Reading, budget: str) -> list[str]:
    lines: list[str] = []
    lines += ["", "## Recommended setting", ""]
    if reading.best is None:
        lines.append(
            f"No front member keeps forgetting within {budget}; raise `max_forgetting` "
            "(or `--max-forgetting`) or sweep more replay."
        )
    else:
        s = reading.stats[reading.best]
        overrides = " ".join(f"-S {k}={_fmt(v)}" for k, v in s["params"].items())
        lines += [
            f"`{reading.best}`: absorption {cell(s['y'])} at forgetting {cell(s['x'])} (budget {budget}).",
            "",
            f"Adopt it in the workspace (its `mix.seed` {sweep.seeds[0]} run; then commit params.yaml and dvc.lock):",
            "",
            f"    dvc exp apply {sweep.prefix}-{reading.best}-s{sweep.seeds[0]}",
            "",
            f"or rerun it on another commit: `dvc exp run {overrides}`.",
        ]
        spread_x = s["x"][1]
        if (
            spread_x is not None
            and sweep.max_forgetting is not None
            and s["x"][0] + 2 * spread_x > sweep.max_forgetting
        ):
            lines.append(
                f"Within seed noise of the budget: forgetting {s['x'][0]:.3f} + 2× {spread_x:.3f} "
                f"exceeds {budget}; a safer pick has more replay."
            )
    return lines


def compare_to_best(arm: dict, best: dict) -> tuple[float, float | None, str]:
    """An extra arm's absorption minus the recommended point's, the larger of their two seed spreads
    (None: both ran one seed), and the verdict: "better" or "worse" only beyond that spread."""
    diff = arm["y"][0] - best["y"][0]
    spreads = [d for d in (arm["y"][1], best["y"][1]) if d is not None]
    spread = max(spreads) if spreads else None
    noise = spread or 0.0
    verdict = "better" if diff > noise else "within one seed spread" if abs(diff) <= noise else "worse"
    return diff, spread, verdict


def dominators(stat: dict, reading: Reading) -> list[str]:
    """The front members that forget no more than `stat` and absorb more (means): the grid already
    holds a setting at least as good, whatever the arm's other merits."""
    x, y = stat["x"][0], stat["y"][0]
    return [n for n in reading.front if reading.stats[n]["x"][0] <= x and reading.stats[n]["y"][0] > y]


def _extra_line(sweep: Sweep, reading: Reading, name: str, budget: str) -> str:
    settings = ", ".join(f"`{k}={_fmt(v)}`" for k, v in sweep.extra[name].items())
    s = reading.stats.get(name)
    if s is None:
        return f"- `{name}` ({settings}): not measured (failed, or a run lacks a metric)."
    within = (
        "no forgetting budget"
        if sweep.max_forgetting is None
        else f"{'within' if s['x'][0] <= sweep.max_forgetting else 'over'} the budget {budget}"
    )
    text = f"- `{name}` ({settings}): absorption {cell(s['y'])}, forgetting {cell(s['x'])} ({within})"
    if reading.best is not None:
        diff, spread, verdict = compare_to_best(s, reading.stats[reading.best])
        noise = "no seed spread: one seed each" if spread is None else f"larger seed spread {spread:.3f}"
        text += f"; absorption {diff:+.3f} against `{reading.best}` ({noise}): **{verdict}**"
    dom = dominators(s, reading)
    text += ("; dominated by front " + ", ".join(f"`{n}`" for n in dom)) if dom else "; no front member dominates it"
    return text + "."


def _extra_lines(sweep: Sweep, reading: Reading, budget: str) -> list[str]:
    if not sweep.extra:
        return []
    lines = ["", "## Extra arms against the recommended point", ""]
    if reading.best is None:
        lines += ["No recommended point (no front member within the budget) to compare them with.", ""]
    lines += [_extra_line(sweep, reading, name, budget) for name in sweep.extra]
    lines += [
        "",
        (
            "Extra arms run per seed like the points but are not on the front; `·` in the table: the arm "
            "leaves that key at `common` / params.yaml. Better or worse: the absorption difference exceeds "
            "the larger of the two seed spreads; dominated: a front member forgets no more and absorbs more "
            "(means)."
        ),
    ]
    return lines


def _fit_lines(sweep: Sweep, reading: Reading, budget: str) -> list[str]:
    lines: list[str] = []
    if not sweep.axis:
        return lines
    lines += ["", f"## Trade-off along `{sweep.axis}` (monotone fits)", ""]
    if not reading.fits:
        lines.append("(fewer than two axis values with both metrics: no fit)")
    for f in reading.fits:
        where = ", ".join(f"`{k}={_fmt(v)}`" for k, v in f["group"].items()) or "all points"
        cross, fitted = f.get("crossing"), f["x"]["fitted"]
        budget_text = (
            ""
            if sweep.max_forgetting is None
            else f" The fitted forgetting stays within the budget {budget} over the swept range."
            if max(fitted) <= sweep.max_forgetting
            else f" The fitted forgetting crosses the budget {budget} at `{sweep.axis}` ≈ {cross:.3g}."
            if cross is not None
            else f" The fitted forgetting never falls to {budget} in the swept range."
        )
        lines.append(
            f"- {where}: forgetting {' → '.join(f'{v:.3g}' for v in f['x']['fitted'])} "
            f"(RMS residual {f['x']['rms']:.3g}), absorption {' → '.join(f'{v:.3f}' for v in f['y']['fitted'])} "
            f"(RMS residual {f['y']['rms']:.3f}) at `{sweep.axis}` {', '.join(_fmt(v) for v in f['x']['axis'])}."
            + budget_text
        )
    lines += [
        "",
        (
            "Isotonic regression (scikit-learn): the least-squares monotone curve, its direction "
            "chosen by the data; a residual near the seed spread means the monotone shape explains "
            "the points."
        ),
    ]
    return lines


def render(
    sweep: Sweep, reading: Reading, sweep_file: str, failed: list[str], minutes: float, png_name: str, repetition: str
) -> str:
    keys = sweep.keys + [k for k in sweep.complement if k not in sweep.keys]
    heads = [
        "point",
        *keys,
        "runs",
        f"forgetting `{sweep.forgetting}`",
        f"absorption `{sweep.absorption}`",
        "front",
        "trained here",
    ]
    new = sum(s["new"] for s in reading.stats.values())
    total = sum(s["n"] for s in reading.stats.values())
    budget = "none" if sweep.max_forgetting is None else f"{sweep.max_forgetting:g}"
    lines = [
        "# cptpipe sweep",
        "",
        (
            f"Sweep `{sweep_file}`: {len(sweep.points)} points"
            + (f" and {len(sweep.extra)} extra arms" if sweep.extra else "")
            + f" × {len(sweep.seeds)} seeds (`mix.seed` {sweep.seeds}), each run a DVC experiment "
            f"`{sweep.prefix}-<{'point or arm' if sweep.extra else 'point'}>-s<seed>` (`dvc exp show`). "
            f"This invocation: {minutes:.1f} min wall, {new} of {total} runs trained in it, {total - new} reused "
            f"from earlier invocations on this commit" + (f", {len(failed)} failed" if failed else "") + ". "
            "`± x` is the sample standard deviation over seeds. Forgetting: lower is better; absorption: higher "
            f"is better. Forgetting budget (`max_forgetting`): {budget}. {repetition}"
        ),
        "",
        "| " + " | ".join(heads) + " |",
        "|" + "---|" * len(heads),
    ]
    lines += _point_rows(sweep, reading, keys)
    lines += _front_lines(reading)
    lines += _recommendation_lines(sweep, reading, budget)
    lines += _extra_lines(sweep, reading, budget)
    lines += _fit_lines(sweep, reading, budget)
    lines += ["", f"![sweep]({png_name})"]
    lines += failed_lines("runs", "Rerun the sweep", failed)
    return "\n".join(lines) + "\n"


def _scatter(ax, sweep: Sweep, reading: Reading) -> None:
    """The forgetting-absorption panel: points, extra arms (stars, off the front), front, budget."""
    labelled = False
    for name, s in reading.stats.items():
        (x, dx), (y, dy) = s["x"], s["y"]
        role = _role(sweep, reading, name)
        color = {"extra": "tab:purple", "recommended": "tab:red", "front": "tab:blue", "off": "grey"}[role]
        style = {"fmt": "*", "ms": 11, "label": None if labelled else "extra arm"} if role == "extra" else {"fmt": "o"}
        labelled |= role == "extra"
        ax.errorbar(x, y, xerr=dx or 0, yerr=dy or 0, color=color, capsize=3, **style)
        ax.annotate(name, (x, y), fontsize=7, xytext=(4, 4), textcoords="offset points")
    front = [(reading.stats[n]["x"][0], reading.stats[n]["y"][0]) for n in reading.front]
    if front:
        ax.step(*zip(*front), where="post", color="tab:blue", lw=1, label="Pareto front")
    if sweep.max_forgetting is not None:
        ax.axvline(sweep.max_forgetting, color="tab:red", ls=":", label=f"budget {sweep.max_forgetting:g}")
    if all(s["x"][0] > 0 for s in reading.stats.values()) and sweep.forgetting.endswith("ratio"):
        ax.set_xscale("log")  # perplexity ratios span orders of magnitude without replay
    ax.set_xlabel(f"forgetting: {sweep.forgetting} (lower is better)")
    ax.set_ylabel(f"absorption: {sweep.absorption}")
    ax.set_title("each point: mean ± seed std (red: recommended; stars: extra arms)", fontsize=10)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)


def plot(sweep: Sweep, reading: Reading, out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = 2 if reading.fits else 1
    fig, axes = plt.subplots(1, panels, figsize=(6.5 * panels, 5), squeeze=False)
    _scatter(axes[0][0], sweep, reading)
    if reading.fits:
        ax = axes[0][1]
        twin = ax.twinx()
        for i, f in enumerate(reading.fits):
            label = ", ".join(f"{k.rsplit('.', 1)[-1]}={_fmt(v)}" for k, v in f["group"].items()) or "all"
            color = f"C{i}"
            ax.plot(f["x"]["xs"], f["x"]["ys"], "o", color=color, alpha=0.5)
            ax.plot(f["x"]["axis"], f["x"]["fitted"], "-", color=color, label=f"forgetting ({label})")
            twin.plot(f["y"]["xs"], f["y"]["ys"], "s", color=color, alpha=0.5, mfc="none")
            twin.plot(f["y"]["axis"], f["y"]["fitted"], "--", color=color, label=f"absorption ({label})")
        if sweep.max_forgetting is not None:
            ax.axhline(sweep.max_forgetting, color="tab:red", ls=":")
        ax.set_yscale("log" if sweep.forgetting.endswith("ratio") else "linear")
        ax.set_xlabel(sweep.axis)
        ax.set_ylabel("forgetting (o, solid)")
        twin.set_ylabel("absorption (□, dashed)")
        ax.legend(fontsize=7, loc="upper left")
        twin.legend(fontsize=7, loc="upper right")
        ax.set_title("monotone fits along the axis, the runs of every seed", fontsize=10)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)


def repetition_note(sweep: Sweep, params: dict) -> str:
    """How often each run repeats the domain documents: proxies mislead when this differs from the
    target run's (arXiv 2606.07597), so the report states it."""
    epochs = sweep.common.get("mix.domain_epochs", _params_value(params, "mix.domain_epochs"))
    tokens = sweep.common.get("mix.tokens", _params_value(params, "mix.tokens"))
    if tokens is None and "mix.domain_epochs" not in sweep.keys and "mix.tokens" not in sweep.keys:
        return (
            f"Every run repeats the domain documents {_fmt(epochs)} times (`mix.domain_epochs`) whatever its "
            "replay share, so points differ only in what the sweep sets; run the chosen setting on the "
            "target model with the same number of domain passes: proxy mixture results mislead when the "
            "repetition rate differs (arXiv 2606.07597)."
        )
    return (
        "The domain repetition rate differs between points (`mix.tokens` or `mix.domain_epochs` is set or "
        "swept); compare points at equal domain passes before carrying a ratio to the target run "
        "(arXiv 2606.07597)."
    )


def run_sweep(
    sweep_file: str | Path,
    out_md: str | Path,
    cwd: str | Path = ".",
    jobs: int = 1,
    max_forgetting: float | None = None,
) -> str:
    """Run the sweep's missing experiments and write its report to out_md, its figure beside it (.png);
    both relative to cwd unless absolute. Returns a one-line summary."""
    cwd, out_png = Path(cwd), Path(out_md).with_suffix(".png")
    params = yaml.safe_load((cwd / "params.yaml").read_text())
    sweep = load_sweep(cwd / sweep_file if not Path(sweep_file).is_absolute() else sweep_file, params)
    if max_forgetting is not None:
        sweep.max_forgetting = max_forgetting
    grid = as_grid(sweep, params)
    arms = expand(grid)
    outcome = run_grid(arms, cwd, jobs=jobs, desc="sweep")
    reading = read_sweep(sweep, grid, arms, outcome.rows, outcome.before)
    (cwd / out_png).parent.mkdir(parents=True, exist_ok=True)
    plot(sweep, reading, cwd / out_png)
    md = render(
        sweep,
        reading,
        str(sweep_file),
        outcome.failed,
        outcome.minutes,
        out_png.name,
        repetition_note(sweep, params),
    )
    write_text(cwd / out_md, md)
    best = f"recommended {reading.best}" if reading.best else "no point within the forgetting budget"
    measured = [n for n in reading.stats if n not in sweep.extra]
    extra = f", {len(reading.stats) - len(measured)}/{len(sweep.extra)} extra arms" if sweep.extra else ""
    return (
        f"{len(measured)}/{len(sweep.points)} points{extra} measured, front {reading.front}, {best}, "
        f"{len(outcome.failed)} failed -> {out_md}, {out_png}"
    )

"""Reading a sweep: pure functions over aggregated points {name: {"x": (mean, spread), "y": (...), ...}}: the
Pareto front, the recommended point, monotone fits along the axis, how an extra arm compares."""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np

from cptpipe.runner import Arm, Grid, aggregate
from cptpipe.sweep.spec import Sweep


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


def role(sweep: Sweep, reading: Reading, name: str) -> str:
    """extra, recommended, front or off: how the table and the figure mark a point or arm."""
    if name in sweep.extra:
        return "extra"
    if name == reading.best:
        return "recommended"
    return "front" if name in reading.front else "off"


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

"""The sweep file (study/sweep.yaml): its keys, the points it names (grid or seeded sample), its extra arms, and
the runner's grid it becomes."""

from __future__ import annotations

import itertools
import math
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from cptpipe.errors import UserError
from cptpipe.metric_table import metric_problems, role_key
from cptpipe.params.yamlio import load_yaml
from cptpipe.runner import Grid

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


def params_value(params: dict, key: str) -> object:
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
                params_value(params, key)
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
    raw = load_yaml(path.read_text()) or {}
    problems = []
    if unknown := sorted(set(raw) - SPEC_KEYS):
        problems.append(f"unknown keys {unknown}; allowed: {sorted(SPEC_KEYS)}")
    points = _sweep_points(raw, problems)
    common = dict(raw.get("common") or {})
    complement = {str(k): list(v) for k, v in (raw.get("complement") or {}).items()}
    swept = list(dict.fromkeys(k for p in points for k in p))
    for key in [*swept, *common, *complement, *(p for parts in complement.values() for p in parts)]:
        try:
            params_value(params, key)
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
    absorption = str(raw.get("absorption", role_key("headline")))
    forgetting = str(raw.get("forgetting", role_key("forgetting")))
    problems += metric_problems({"absorption": absorption, "forgetting": forgetting})
    if problems:
        raise UserError(f"{path}: " + "; ".join(problems))
    return Sweep(
        prefix=prefix,
        common=common,
        points=points,
        seeds=[int(s) for s in raw.get("seeds", [0])],
        absorption=absorption,
        forgetting=forgetting,
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
            defaults[p] = sweep.common.get(p, params_value(params, p))
    arms = [(point_name(p), p) for p in sweep.points] + list(sweep.extra.items())
    levels = {name: with_complements(sets, sweep.complement, defaults) for name, sets in arms}
    return Grid(
        prefix=sweep.prefix, common=sweep.common, axes={"point": levels}, seeds=sweep.seeds, seeded_arms=list(levels)
    )

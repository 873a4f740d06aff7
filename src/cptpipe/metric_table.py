"""The one table of metrics (metrics.yaml): where each sits in metrics.json, which lm-eval result it is read
from, its row label in the report, what a derived metric is computed from and how, and the roles by which the
report, `cptpipe compare`, the study, the sweep and the training curves find a metric."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from importlib import resources

import yaml

CHECKPOINTS = ("start", "cpt")  # the models every raw metric is measured on: `<checkpoint>.<group>.<key>`
OPS = {"difference": lambda start, cpt: cpt - start, "ratio": lambda start, cpt: cpt / start}


@dataclass(frozen=True)
class Metric:
    group: str
    key: str
    task: str | None = None  # lm-eval task; None: computed outside lm-eval
    result: str | None = None  # lm-eval result key, "metric,filter"
    label: str | None = None  # row of the report's start-vs-CPT table; None: no row
    roles: tuple[str, ...] = ()
    chance: float | None = None  # a multiple-choice metric's chance level
    curve: str | None = None  # the in-training curve that tracks it (reports/train/plots/metrics/<curve>.tsv)
    source: str | None = None  # `from`: a derived metric's raw metric (group.key) on both checkpoints
    op: str | None = None  # a derived metric's computation: a key of OPS

    @property
    def name(self) -> str:
        return f"{self.group}.{self.key}"

    @property
    def derived(self) -> bool:
        return self.source is not None

    def json_keys(self) -> list[str]:
        """Its metrics.json keys: `<checkpoint>.<group>.<key>` for a raw metric, `<group>.<key>` for a derived one."""
        return [self.name] if self.derived else [f"{c}.{self.name}" for c in CHECKPOINTS]


@cache
def metrics() -> tuple[Metric, ...]:
    text = resources.files("cptpipe").joinpath("metrics.yaml").read_text(encoding="utf-8")
    out = []
    for m in yaml.safe_load(text):
        source = m.pop("from", None)
        out.append(Metric(**{**m, "roles": tuple(m.get("roles", ())), "source": source}))
    for m in out:
        if m.derived and (m.op not in OPS or m.source not in {r.name for r in out if not r.derived}):
            raise ValueError(f"metrics.yaml: {m.name} must be computed `from` a raw metric with op in {list(OPS)}")
    return tuple(out)


def from_lm_eval() -> list[Metric]:
    return [m for m in metrics() if m.task is not None]


def report_rows() -> list[Metric]:
    return [m for m in metrics() if m.label is not None and not m.derived]


def derived() -> list[Metric]:
    return [m for m in metrics() if m.derived]


def metric(name: str) -> Metric:
    """The metric `group.key`."""
    return next(m for m in metrics() if m.name == name)


def with_role(role: str) -> Metric:
    """The one metric that plays `role` (see the roles in metrics.yaml)."""
    found = [m for m in metrics() if role in m.roles]
    if len(found) != 1:
        raise ValueError(f"metrics.yaml: role {role!r} is played by {len(found)} metrics, not one")
    return found[0]


def role_key(role: str, checkpoint: str = CHECKPOINTS[1]) -> str:
    """The metrics.json key of the metric playing `role` (a raw metric: on `checkpoint`)."""
    m = with_role(role)
    return m.name if m.derived else f"{checkpoint}.{m.name}"


def compare_keys() -> list[str]:
    """The metrics.json keys `cptpipe compare` shows, in table order."""
    out = []
    for m in metrics():
        if "compare" in m.roles:
            out += m.json_keys()
        out += [f"{r.split(':')[1]}.{m.name}" for r in m.roles if r.startswith("compare:")]
    return out


def curve(name: str) -> str:
    """The in-training curve of metric `group.key` (reports/train/plots/metrics/<curve>.tsv)."""
    found = metric(name).curve
    if found is None:
        raise ValueError(f"metrics.yaml: {name} has no curve")
    return found


def known_keys() -> list[str]:
    """Every metrics.json key the table defines."""
    return [k for m in metrics() for k in m.json_keys()]


def metric_problems(keys: dict[str, str]) -> list[str]:
    """One line per metrics.json key of `keys` ({what names it: key}) that no metric defines, then the known keys
    (none when all are known): a study or sweep file that names an unknown metric fails at load."""
    known = known_keys()
    bad = [f"{what}: unknown metric {key!r}" for what, key in keys.items() if key not in known]
    return bad + [f"known metrics: {', '.join(known)}"] if bad else []

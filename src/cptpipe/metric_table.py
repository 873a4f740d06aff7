"""The one table of metrics (metrics.yaml): where each sits in metrics.json, which lm-eval result
it is read from, and its row label in the report."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from importlib import resources

import yaml


@dataclass(frozen=True)
class Metric:
    group: str
    key: str
    task: str | None = None  # lm-eval task; None: computed outside lm-eval
    result: str | None = None  # lm-eval result key, "metric,filter"
    label: str | None = None  # row of the report's start-vs-CPT table; None: no row


@cache
def metrics() -> tuple[Metric, ...]:
    text = resources.files("cptpipe").joinpath("metrics.yaml").read_text(encoding="utf-8")
    return tuple(Metric(**m) for m in yaml.safe_load(text))


def from_lm_eval() -> list[Metric]:
    return [m for m in metrics() if m.task is not None]


def report_rows() -> list[Metric]:
    return [m for m in metrics() if m.label is not None]

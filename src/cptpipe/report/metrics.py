"""reports/metrics.json: per-checkpoint metrics plus the derived ones of metrics.yaml (absorption, forgetting)."""

from __future__ import annotations

from cptpipe.metric_table import CHECKPOINTS, OPS, derived


def numeric_only(d: dict) -> dict:
    """Keep nested numbers only (DVC metrics), dropping counts and skip lists."""
    out = {}
    for k, v in d.items():
        if isinstance(v, dict) and k != "n":
            inner = {ik: iv for ik, iv in v.items() if isinstance(iv, (int, float)) and not isinstance(iv, bool)}
            if inner:
                out[k] = inner
    return out


def _get(d: dict, group: str, name: str) -> float | None:
    v = d.get(group, {}).get(name)
    return float(v) if isinstance(v, (int, float)) else None


def combine(start: dict, cpt: dict) -> dict:
    """The design's metrics: `<c>.*` per checkpoint, then each derived metric of metrics.yaml under its group
    (absent when a checkpoint lacks its raw metric, or a ratio's start value is 0)."""
    s, c = numeric_only(start), numeric_only(cpt)
    out: dict = dict(zip(CHECKPOINTS, (s, c)))
    for m in derived():
        out.setdefault(m.group, {})
    for m in derived():
        a, b = _get(s, *m.source.split(".")), _get(c, *m.source.split("."))
        if a is not None and b is not None and (a or m.op != "ratio"):
            out[m.group][m.key] = round(OPS[m.op](a, b), 6)
    return out

"""reports/metrics.json: per-checkpoint metrics plus absorption and forgetting deltas."""

from __future__ import annotations

CHECKPOINTS = ("start", "cpt")


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
    """The design's metrics: `<c>.*` per checkpoint, `absorption.*` (cpt - start), `forgetting.*`."""
    s, c = numeric_only(start), numeric_only(cpt)
    out: dict = {"start": s, "cpt": c, "absorption": {}, "forgetting": {}}
    for name, group, key in (
        ("em_gain", "domain_qa", "em"),
        ("f1_gain", "domain_qa", "f1"),
        ("mc_gain", "domain_qa_mc", "acc"),
        ("seen_em_gain", "domain_qa_seen", "em"),
        ("span_em_gain", "domain_qa", "span_em"),
        ("recall_gain", "domain_recall", "em"),
    ):
        a, b = _get(s, group, key), _get(c, group, key)
        if a is not None and b is not None:
            out["absorption"][name] = round(b - a, 6)
    a, b = _get(s, "replay", "ppl"), _get(c, "replay", "ppl")
    if a and b is not None:
        out["forgetting"]["ppl_ratio"] = round(b / a, 6)
    a, b = _get(s, "general", "ppl"), _get(c, "general", "ppl")
    if a and b is not None:
        out["forgetting"]["general_ppl_ratio"] = round(b / a, 6)
    a, b = _get(s, "instruct", "follow"), _get(c, "instruct", "follow")
    if a is not None and b is not None:
        out["forgetting"]["follow_delta"] = round(b - a, 6)
    return out

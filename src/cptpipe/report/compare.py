"""`cptpipe compare`: key params and metrics across git revisions and DVC experiments."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

from cptpipe.errors import UserError
from cptpipe.metric_table import compare_keys

KEY_PARAMS = ("train.recipe", "model.kind", "train.lr", "mix.replay", "mix.instruct", "mix.domain_epochs", "seed")
KEY_METRICS = tuple(compare_keys())  # metrics.yaml's `compare` roles


def flatten(d: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in (d or {}).items():
        key = f"{prefix}.{k}" if prefix else str(k)
        if isinstance(v, dict):
            out.update(flatten(v, key))
        else:
            out[key] = v
    return out


def _row(entry: dict) -> dict | None:
    data = entry.get("data") or {}
    if entry.get("error") or not data:
        return None
    params = flatten((data.get("params") or {}).get("params.yaml", {}).get("data", {}))
    metrics = {}
    for f in (data.get("metrics") or {}).values():
        metrics.update(flatten(f.get("data", {})))
    rev = str(entry.get("rev", ""))
    short = rev if rev == "workspace" else rev[:7]
    return {"name": entry.get("name") or data.get("name") or short, "rev": short, "params": params, "metrics": metrics}


def rows_from_exp_show(show: list[dict]) -> list[dict]:
    """Baseline revisions and their experiments from `dvc exp show --json`, in that order."""
    rows = []
    for base in show:
        r = _row(base)
        if r:
            rows.append(r)
        for group in base.get("experiments") or []:
            for exp in group.get("revs") or []:
                r = _row(exp)
                if r:
                    rows.append(r)
    return rows


def markdown_table(rows: list[dict]) -> str:
    def fmt(v) -> str:
        if isinstance(v, float):
            return f"{v:.4g}"
        return "–" if v is None else str(v)

    head = ["experiment", "rev", *KEY_PARAMS, *KEY_METRICS]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        cells = [
            r["name"],
            r["rev"],
            *(fmt(r["params"].get(k)) for k in KEY_PARAMS),
            *(fmt(r["metrics"].get(k)) for k in KEY_METRICS),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def dvc_bin() -> str:
    """The dvc of this environment (stage commands and tests may run without the venv on PATH)."""
    return shutil.which("dvc") or str(Path(sys.executable).parent / "dvc")


def exp_show(cwd: str | Path = ".", *flags: str) -> list[dict]:
    """Parsed `dvc exp show --json [flags]`."""
    proc = subprocess.run([dvc_bin(), "exp", "show", "--json", *flags], cwd=cwd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise UserError(f"`dvc exp show` failed: {proc.stderr.strip()[:300]}")
    return json.loads(proc.stdout)


def compare_markdown(revs: list[str] | None = None, cwd: str | Path = ".") -> str:
    flags = [a for r in revs for a in ("--rev", r)] if revs else ["-A"]
    rows = rows_from_exp_show(exp_show(cwd, *flags))
    if not rows:
        raise UserError("no revision or experiment with metrics yet; run `make repro` or `dvc exp run`")
    return markdown_table(rows)

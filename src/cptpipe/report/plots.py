"""PNG plots: the report's (training loss with phase boundaries, QA by type, forgetting) and the sweep's front.

The one matplotlib setup (headless Agg backend) of cptpipe: the study and the sweep draw through it too.
"""

from __future__ import annotations

import csv
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from cptpipe.metric_table import CHECKPOINTS  # noqa: E402


def save_figure(fig, out: Path) -> None:
    """Lay out, write as PNG (110 dpi) and free one figure."""
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)


def read_tsv(path: Path) -> tuple[list[float], list[float]]:
    xs, ys = [], []
    if path.exists():
        with open(path) as f:
            for row in csv.DictReader(f, delimiter="\t"):
                xs.append(float(row["step"]))
                ys.append(float(row[[k for k in row if k not in ("step", "timestamp")][0]]))
    return xs, ys


def plot_loss(loss_tsv: Path, phases: list[dict], out: Path) -> None:
    xs, ys = read_tsv(loss_tsv)
    fig, ax = plt.subplots(figsize=(8, 4.5))
    ax.plot(xs, ys, color="tab:blue", lw=1.5, label="training loss")
    for i, ph in enumerate(phases):
        ax.axvspan(ph["first_step"] - 0.5, ph["last_step"] + 0.5, alpha=0.08, color=f"C{i + 1}")
        ax.axvline(ph["first_step"] - 0.5, color="gray", ls="--", lw=1)
        ax.text(ph["first_step"], ax.get_ylim()[1] if ys else 1, f" {ph['name']}", va="top", fontsize=9)
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("cross-entropy loss (nats/token)")
    ax.set_title("Training loss by phase")
    ax.legend(loc="upper right")
    ax.grid(alpha=0.3)
    save_figure(fig, out)


def plot_bars(
    groups: dict[str, dict[str, float]], title: str, ylabel: str, out: Path, chance: float | None = None
) -> None:
    """groups: {category: {"start": v, "cpt": v}} as side-by-side bars."""
    cats = list(groups)
    fig, ax = plt.subplots(figsize=(max(5, 1.6 * len(cats) + 2), 4.5))
    width = 0.38
    for j, which in enumerate(CHECKPOINTS):
        vals = [groups[c].get(which, float("nan")) for c in cats]
        bars = ax.bar(
            [i + (j - 0.5) * width for i in range(len(cats))],
            vals,
            width,
            label=which,
            color="tab:gray" if which == CHECKPOINTS[0] else "tab:orange",
        )
        ax.bar_label(bars, fmt="%.3g", fontsize=8)
    if chance is not None:
        ax.axhline(chance, color="black", ls=":", lw=1, label=f"MC chance ({chance:g})")
    ax.set_xticks(range(len(cats)), cats)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.legend()
    ax.grid(axis="y", alpha=0.3)
    save_figure(fig, out)


def plot_forgetting_curve(
    ratio_tsv: Path, share_tsv: Path, phases: list[dict], budget: float | None, out: Path
) -> None:
    """The replay perplexity ratio (cpt / start) over training, with each documents phase's replay share
    on the right axis: a fixed schedule's flat line, or an adaptive one's steering."""
    xs, ratios = read_tsv(ratio_tsv)
    sx, shares = read_tsv(share_tsv)
    fig, ax = plt.subplots(figsize=(8, 4.5))
    ax.plot(xs, ratios, "o-", color="tab:red", lw=1.5, ms=3, label="replay ppl ratio (cpt / start)")
    ax.axhline(1.0, color="gray", lw=1, ls=":")
    if budget is not None:
        ax.axhline(budget, color="tab:red", lw=1, ls="--", label=f"forgetting budget {budget:g}")
    if ratios and min(ratios) > 0:
        ax.set_yscale("log")
    for ph in phases:
        ax.axvline(ph["first_step"] - 0.5, color="gray", ls="--", lw=0.8)
        ax.text(ph["first_step"], 1.0, f" {ph['name']}", va="bottom", fontsize=8, color="gray")
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("replay word-perplexity ratio")
    right = ax.twinx()
    right.step(sx, shares, where="post", color="tab:blue", lw=1.5, label="replay share of the documents")
    right.set_ylabel("replay share", color="tab:blue")
    right.set_ylim(0, max([0.1, *shares]) * 1.15)
    lines = ax.get_legend_handles_labels()
    more = right.get_legend_handles_labels()
    ax.legend(lines[0] + more[0], lines[1] + more[1], loc="upper left", fontsize=8)
    ax.set_title("Forgetting over training and the replay share")
    ax.grid(alpha=0.3)
    save_figure(fig, out)


def _fmt(value: object) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def _sweep_scatter(ax, stats: dict[str, dict], roles: dict[str, str], front: list[str], axes: dict) -> None:
    """The forgetting-absorption panel: points, extra arms (stars, off the front), front, budget."""
    labelled = False
    for name, s in stats.items():
        (x, dx), (y, dy) = s["x"], s["y"]
        role = roles[name]
        color = {"extra": "tab:purple", "recommended": "tab:red", "front": "tab:blue", "off": "grey"}[role]
        style = {"fmt": "*", "ms": 11, "label": None if labelled else "extra arm"} if role == "extra" else {"fmt": "o"}
        labelled |= role == "extra"
        ax.errorbar(x, y, xerr=dx or 0, yerr=dy or 0, color=color, capsize=3, **style)
        ax.annotate(name, (x, y), fontsize=7, xytext=(4, 4), textcoords="offset points")
    front_xy = [(stats[n]["x"][0], stats[n]["y"][0]) for n in front]
    if front_xy:
        ax.step(*zip(*front_xy), where="post", color="tab:blue", lw=1, label="Pareto front")
    budget, forgetting = axes["max_forgetting"], axes["forgetting"]
    if budget is not None:
        ax.axvline(budget, color="tab:red", ls=":", label=f"budget {budget:g}")
    if all(s["x"][0] > 0 for s in stats.values()) and forgetting.endswith("ratio"):
        ax.set_xscale("log")  # perplexity ratios span orders of magnitude without replay
    ax.set_xlabel(f"forgetting: {forgetting} (lower is better)")
    ax.set_ylabel(f"absorption: {axes['absorption']}")
    ax.set_title("each point: mean ± seed std (red: recommended; stars: extra arms)", fontsize=10)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)


def _sweep_fits(ax, fits: list[dict], axes: dict) -> None:
    """The monotone fits of forgetting (left axis) and absorption (right) along the swept axis."""
    twin = ax.twinx()
    for i, f in enumerate(fits):
        label = ", ".join(f"{k.rsplit('.', 1)[-1]}={_fmt(v)}" for k, v in f["group"].items()) or "all"
        color = f"C{i}"
        ax.plot(f["x"]["xs"], f["x"]["ys"], "o", color=color, alpha=0.5)
        ax.plot(f["x"]["axis"], f["x"]["fitted"], "-", color=color, label=f"forgetting ({label})")
        twin.plot(f["y"]["xs"], f["y"]["ys"], "s", color=color, alpha=0.5, mfc="none")
        twin.plot(f["y"]["axis"], f["y"]["fitted"], "--", color=color, label=f"absorption ({label})")
    if axes["max_forgetting"] is not None:
        ax.axhline(axes["max_forgetting"], color="tab:red", ls=":")
    ax.set_yscale("log" if axes["forgetting"].endswith("ratio") else "linear")
    ax.set_xlabel(axes["axis"])
    ax.set_ylabel("forgetting (o, solid)")
    twin.set_ylabel("absorption (□, dashed)")
    ax.legend(fontsize=7, loc="upper left")
    twin.legend(fontsize=7, loc="upper right")
    ax.set_title("monotone fits along the axis, the runs of every seed", fontsize=10)


def plot_sweep(
    stats: dict[str, dict], roles: dict[str, str], front: list[str], fits: list[dict], axes: dict, out: Path
) -> None:
    """The sweep's figure. stats: point or arm -> {"x", "y": (mean, spread)}; roles: extra, recommended, front
    or off; axes: the sweep's "forgetting" and "absorption" keys, "max_forgetting" (None: no budget) and "axis"."""
    panels = 2 if fits else 1
    fig, grid = plt.subplots(1, panels, figsize=(6.5 * panels, 5), squeeze=False)
    _sweep_scatter(grid[0][0], stats, roles, front, axes)
    if fits:
        _sweep_fits(grid[0][1], fits, axes)
    save_figure(fig, out)

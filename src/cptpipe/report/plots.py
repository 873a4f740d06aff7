"""PNG plots for the report: training loss with phase boundaries, QA by type, forgetting."""

from __future__ import annotations

import csv
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


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
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)


def plot_bars(
    groups: dict[str, dict[str, float]], title: str, ylabel: str, out: Path, chance: float | None = None
) -> None:
    """groups: {category: {"start": v, "cpt": v}} as side-by-side bars."""
    cats = list(groups)
    fig, ax = plt.subplots(figsize=(max(5, 1.6 * len(cats) + 2), 4.5))
    width = 0.38
    for j, which in enumerate(("start", "cpt")):
        vals = [groups[c].get(which, float("nan")) for c in cats]
        bars = ax.bar(
            [i + (j - 0.5) * width for i in range(len(cats))],
            vals,
            width,
            label=which,
            color="tab:gray" if which == "start" else "tab:orange",
        )
        ax.bar_label(bars, fmt="%.3g", fontsize=8)
    if chance is not None:
        ax.axhline(chance, color="black", ls=":", lw=1, label=f"MC chance ({chance:g})")
    ax.set_xticks(range(len(cats)), cats)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.legend()
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)


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
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)

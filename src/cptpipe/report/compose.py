"""The report stage: eval results of start and cpt + training/mix summaries -> metrics, markdown, plots."""

from __future__ import annotations

import json
import math
from collections import defaultdict
from pathlib import Path
from types import SimpleNamespace

from cptpipe.metric_table import CHECKPOINTS, curve, report_rows, role_key, with_role
from cptpipe.model.context import config_context
from cptpipe.report.metrics import combine
from cptpipe.report.plots import plot_bars, plot_forgetting_curve, plot_loss

RANGES = {  # the seed's recommended share of each source in a phase, printed beside the actual one
    "domain": "0.90-0.95",
    "qa": "by recipe",
    "replay": "0.05-0.10",
    "instruct": "0.01-0.05",
}


# generation tasks whose samples carry a per-row token F1, split by question type in qa_by_type.png
GEN_TASKS = ("domain_qa_gen", "domain_qa_reasoning", "domain_qa_summary")


def _read(path: Path, default=None):
    return json.loads(path.read_text()) if path.exists() else default


def accuracy_by_type(samples_file: Path, key: str) -> dict[str, float]:
    """Mean of `key` per question type from an lm-eval samples file written by the eval stage."""
    sums: dict[str, list[float]] = defaultdict(list)
    if samples_file.exists():
        for line in samples_file.read_text().splitlines():
            r = json.loads(line)
            if key in r:
                sums[r["doc"].get("type", "all")].append(float(r[key]))
    return {t: sum(v) / len(v) for t, v in sorted(sums.items())}


def breakdown(start: dict, cpt: dict, key: str) -> dict[str, dict]:
    """{group: {"start": em, "cpt": em, "n": count}} from the eval metrics' `key` ({group: {em, n}})."""
    out: dict[str, dict] = {}
    for which, m in zip(CHECKPOINTS, (start, cpt)):
        for g, v in (m.get(key) or {}).items():
            out.setdefault(g, {})[which] = float(v["em"])
            out[g]["n"] = max(out[g].get("n", 0), int(v["n"]))
    return dict(sorted(out.items()))


def _breakdown_table(title: str, column: str, groups: dict[str, dict]) -> list[str]:
    """A start-vs-cpt exact-match table, one row per group (empty when the eval wrote no breakdown)."""
    if not groups:
        return []
    lines = [f"## {title}", "", f"| {column} | questions | start EM | cpt EM | delta |", "|---|---:|---:|---:|---:|"]
    for g, v in groups.items():
        a, b = (v.get(which) for which in CHECKPOINTS)
        d = b - a if a is not None and b is not None else None
        lines.append(f"| {g} | {v['n']} | {_fmt(a)} | {_fmt(b)} | {_fmt(d)} |")
    return lines + [""]


def _fmt(v) -> str:
    if v is None:
        return "–"
    return f"{v:.4g}" if isinstance(v, float) else str(v)


def checkpoint_params(model_dir: Path) -> int | None:
    """Parameters stored in a checkpoint's safetensors files, summed from their headers (no weights load;
    tied weights are stored once, so they count once)."""
    files = sorted(model_dir.glob("*.safetensors"))
    total = 0
    for f in files:
        with open(f, "rb") as fh:
            header = json.loads(fh.read(int.from_bytes(fh.read(8), "little")))
        total += sum(math.prod(v["shape"]) for k, v in header.items() if k != "__metadata__")
    return total if files else None


def model_rows(config: dict, n_params: int | None, train: dict, eval_setup: dict) -> list[tuple[str, str]]:
    """What was trained and how it was evaluated, as (setting, value) rows of the report."""
    context = config_context(SimpleNamespace(**config))  # the context check's reading of a config
    model_args = eval_setup.get("model_args") or {}
    precision = train.get("precision", "?")
    return [
        ("family", f"{config.get('model_type', '?')} ({', '.join(config.get('architectures') or ['?'])})"),
        ("parameters", "?" if n_params is None else f"{n_params / 1e6:,.2f}M"),
        (
            "context",
            "?"
            if context is None
            else f"{context[0]} (config {context[1]}); trained on {train.get('seq_len', '?')}-token blocks",
        ),
        ("vocabulary", str(config.get("vocab_size", "?"))),
        ("train precision", "fp32" if precision == "no" else str(precision)),
        (
            "eval",
            f"lm-eval backend {eval_setup.get('backend', 'hf')}, dtype {model_args.get('dtype', 'float32')}, "
            f"batch {eval_setup.get('batch_size', '?')}, model_args {json.dumps(model_args, sort_keys=True)}",
        ),
    ]


def build_report(
    evals: dict[str, Path],
    train_dir: Path,
    mix_file: Path,
    plots_dir: Path,
    model_dir: Path | None = None,
    eval_setup: dict | None = None,
    plots_href: str = "plots",
) -> tuple[dict, str]:
    """The metrics and the markdown report; writes the PNGs into plots_dir.

    evals: the eval stage's output dir per checkpoint ({"start": dir, "cpt": dir}); train_dir: the train
    stage's live dir (summary.json, loss curve); model_dir: the trained checkpoint (its config and size go
    into the report); eval_setup: the eval params' backend, model_args and batch_size; plots_href:
    plots_dir as the markdown links it (relative to where the markdown is written).
    """
    start, cpt = (_read(evals[which] / "metrics.json", {}) for which in CHECKPOINTS)
    train = _read(train_dir / "summary.json", {})
    mix = _read(mix_file, {})
    metrics = combine(start, cpt)

    plots_dir.mkdir(parents=True, exist_ok=True)
    plot_loss(train_dir / "plots/metrics/train/loss.tsv", train.get("phases", []), plots_dir / "train_loss.png")
    qa_groups: dict[str, dict[str, float]] = {}
    for which in CHECKPOINTS:
        for t, v in accuracy_by_type(evals[which] / "samples_domain_qa_mc.jsonl", "acc").items():
            qa_groups.setdefault(f"MC {t}", {})[which] = v
        for task in GEN_TASKS:
            for t, v in accuracy_by_type(evals[which] / f"samples_{task}.jsonl", "f1").items():
                qa_groups.setdefault(f"F1 {t}", {})[which] = v
    plot_bars(
        qa_groups,
        "Held-out domain QA by question type",
        "MC accuracy / generation token F1",
        plots_dir / "qa_by_type.png",
        chance=with_role("multiple_choice").chance,
    )
    plot_bars(
        {
            f"{k} (n={v['n']})": {w: v[w] for w in CHECKPOINTS if w in v}
            for k, v in breakdown(start, cpt, "domain_qa_by_kind").items()
        },
        "Held-out factual QA by answer kind",
        "exact match",
        plots_dir / "qa_by_kind.png",
    )
    forgetting_plots(metrics, train_dir, train, plots_dir)
    model = []
    if model_dir is not None and (model_dir / "config.json").exists():
        model = model_rows(
            json.loads((model_dir / "config.json").read_text()), checkpoint_params(model_dir), train, eval_setup or {}
        )
    return metrics, render_markdown(metrics, start, cpt, train, mix, model, plots_href)


def forgetting_plots(metrics: dict, train_dir: Path, train: dict, plots_dir: Path) -> None:
    """Forgetting start vs cpt (bars) and over training, with the replay share (curve)."""
    forget = {}
    for label, group, key in (
        ("replay bits/byte", "replay", "bits_per_byte"),
        ("instruction follow", "instruct", "follow"),
    ):
        forget[label] = {w: metrics[w].get(group, {}).get(key, float("nan")) for w in CHECKPOINTS}
    plot_bars(forget, "Forgetting: general text and instruction-following", "value", plots_dir / "forgetting.png")
    curves = train_dir / "plots/metrics"
    steered = [ph["adaptive"] for ph in train.get("phases", []) if "adaptive" in ph]
    plot_forgetting_curve(
        curves / f"{curve(role_key('forgetting'))}.tsv",
        curves / "mix/replay_share.tsv",
        train.get("phases", []),
        steered[0]["forgetting_budget"] if steered else None,
        plots_dir / "forgetting_curve.png",
    )


def _examples_lines(n: dict) -> list[str]:
    lines: list[str] = []
    chance = with_role("multiple_choice").chance
    if n:
        lines.append(
            "Examples per task: "
            + ", ".join(f"{k} {v}" for k, v in sorted(n.items()))
            + f". Multiple choice has {round(1 / chance)} options (chance {chance:g}). Held-out QA, multiple choice"
            " and seen QA score factual questions; reasoning and summary questions have their own rows. Recall asks"
            " the held-out facts as completions of their own documents' sentences: high recall with low"
            " held-out EM means the facts were stored but cannot be extracted by a question; a high share"
            " of wrong answers that are trained answers means QA pairs were memorized, not extraction."
        )
        lines.append("")
    return lines


def _pct(v: float | None) -> str:
    return "0" if not v else f"{v:.1%}"


def _share_cells(ph: dict, ran: dict) -> list[str]:
    """A phase's share per source, actual (requested). An adaptive phase's actual shares are what
    training drew (reports/train/summary.json), requested its starting shares."""
    if ph.get("schedule") != "adaptive":
        return [
            f"{_pct(ph['sources'][s]['share'])} ({_pct(ph['sources'][s]['share_requested'])})"
            if s in ph["sources"]
            else "0"
            for s in RANGES
        ]
    drawn = ran.get("sources", {})
    total = sum(drawn.values())
    start = ph.get("shares", {})  # of the whole phase, QA included, as the drawn shares are
    return [f"{_pct(drawn.get(s, 0) / total if total else None)} ({_pct(start.get(s))} at start)" for s in RANGES]


def _adaptive_lines(train: dict, metrics: dict) -> list[str]:
    """What the controller of each adaptive phase did, and the ratio the eval measured."""
    lines = []
    for ph in train.get("phases", []):
        a = ph.get("adaptive")
        if not a:
            continue
        last = a["updates"][-1]["ratio"] if a["updates"] else None
        drawn = ", ".join(f"{k} {v['tokens']} ({_pct(v['share'])})" for k, v in a["realised"].items())
        group, key = role_key("forgetting").split(".")
        measured = metrics.get(group, {}).get(key)
        lines += [
            "",
            f"## Adaptive mixing: phase {ph['name']}",
            "",
            f"Forgetting budget {a['forgetting_budget']:g} (aiming at {a['target']:.3g}); replay share bounds "
            f"{a['replay_bounds'][0]:g}..{a['replay_bounds'][1]:g}. Replay share {a['start_share']:.3g} at the "
            f"start, {a['final_share']:.3g} after {len(a['updates'])} evals"
            + (" (pinned at the upper bound: the budget is out of reach)" if a["pinned_high"] else "")
            + ".",
            f"Last in-training ratio {_fmt(last)}; the eval's {group}.{key} {_fmt(measured)}.",
            f"Tokens drawn per source: {drawn}.",
        ]
    return lines


def _what_ran_lines(train: dict, mix: dict) -> list[str]:
    """Settings, then one row per phase: its budget, every source's actual (requested) share, tokens,
    steps and the LR schedule that really ran."""
    lines = [
        "## What ran",
        "",
        "| setting | value |",
        "|---|---|",
        f"| recipe | {train.get('recipe', '?')} ({len(mix.get('phases', []))} phases) |",
        f"| LR range of the start's preset ({train.get('lr_preset') or train.get('start_kind', '?')}) "
        f"| {_fmt((train.get('lr_range') or ['?'])[0])}..{_fmt((train.get('lr_range') or ['?', '?'])[1])} |",
        f"| steps | {train.get('steps', '?')} |",
        f"| tokens trained (loss-carrying) | {train.get('tokens', '?')} |",
        f"| batch | {train.get('batch_size', '?')} x {train.get('grad_accum', '?')} x "
        f"{train.get('seq_len', '?')} tokens |",
        "",
        "### Phases",
        "",
        "Shares are of the tokens the phase's index holds: actual (requested). Recommended: "
        + ", ".join(f"{k} {v}" for k, v in RANGES.items())
        + ".",
        "",
        "| phase | budget | domain | qa | replay | instruct | tokens | steps | LR (source) | warmup, decay |",
        "|---|---|---:|---:|---:|---:|---:|---:|---|---|",
    ]
    ran = {p["name"]: p for p in train.get("phases", [])}
    for ph in mix.get("phases", []):
        t = ran.get(ph["name"], {})
        cells = _share_cells(ph, t)
        lr = f"{t['lr']:.3g} ({t.get('lr_source', '?')})" if "lr" in t else "not trained"
        sched = f"{t['warmup']:g}, {t['decay']}" if "warmup" in t else "not trained"
        lines.append(
            f"| {ph['name']} | {ph.get('budget', '?')} | {' | '.join(cells)} | {ph['tokens']} | "
            f"{t.get('steps', 0)} | {lr} | {sched} |"
        )
    return lines


def render_markdown(
    metrics: dict,
    start: dict,
    cpt: dict,
    train: dict,
    mix: dict,
    model: list[tuple[str, str]] = (),
    plots_href: str = "plots",
) -> str:
    lines = [
        "# cptpipe report",
        "",
        f"Recipe **{train.get('recipe', '?')}**, start model kind **{train.get('start_kind', '?')}**.",
        "",
    ]
    if model:
        lines += ["| model | |", "|---|---|", *(f"| {k} | {v} |" for k, v in model), ""]
    lines += ["## Start vs CPT", "", "| metric | start | cpt | delta |", "|---|---:|---:|---:|"]
    for m in report_rows():
        label, g, k = m.label, m.group, m.key
        a, b = (metrics[which].get(g, {}).get(k) for which in CHECKPOINTS)
        d = b - a if a is not None and b is not None else None
        lines.append(f"| {label} | {_fmt(a)} | {_fmt(b)} | {_fmt(d)} |")
    lines += [
        "",
        "Absorption: " + ", ".join(f"`{k}` {_fmt(v)}" for k, v in metrics["absorption"].items()),
        "Forgetting: " + ", ".join(f"`{k}` {_fmt(v)}" for k, v in metrics["forgetting"].items()),
        "",
    ]
    lines += _examples_lines(cpt.get("n", {}))
    lines += _breakdown_table(
        "Held-out factual QA by answer kind", "answer kind", breakdown(start, cpt, "domain_qa_by_kind")
    )
    lines += _breakdown_table(
        "Held-out factual QA by relation", "relation", breakdown(start, cpt, "domain_qa_by_relation")
    )
    lines += _what_ran_lines(train, mix)
    lines += _adaptive_lines(train, metrics)
    warnings = list(train.get("warnings", []))
    for which, m in zip(CHECKPOINTS, (start, cpt)):
        for s in m.get("skipped", []):
            warnings.append(f"eval@{which}: lm-eval task `{s['task']}` skipped ({s['reason']})")
    if warnings:
        lines += ["", "## Warnings", ""] + [f"- {w}" for w in warnings]
    lines += [
        "",
        "## Plots",
        "",
        f"![training loss]({plots_href}/train_loss.png)",
        "",
        f"![QA by type]({plots_href}/qa_by_type.png)",
        "",
        f"![QA by answer kind]({plots_href}/qa_by_kind.png)",
        "",
        f"![forgetting]({plots_href}/forgetting.png)",
        "",
        f"![forgetting over training]({plots_href}/forgetting_curve.png)",
        "",
    ]
    return "\n".join(lines)

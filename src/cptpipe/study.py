"""`cptpipe study`: the QA-exposure study as queued `dvc exp run`s and one honest comparison table.

A grid file (study/grid.yaml) declares axes of params overrides and the claims the study tests;
`cptpipe.runner` turns the axes into arms, runs them as named DVC experiments (headline arms once
per `mix.seed` value, finished ones on this commit reused unless `--fresh`) and aggregates them
over seeds. This module checks the claims against those numbers and writes the report: every arm
with its seed spread, reused runs labelled as reused, the published figures it is read against.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

from cptpipe.errors import UserError
from cptpipe.io import write_text
from cptpipe.metric_table import CHECKPOINTS, metric_problems, role_key, with_role
from cptpipe.runner import (
    Arm,
    Grid,
    aggregate,
    cell,
    expand,
    failed_lines,
    grid_from,
    mean_of,
    read_grid,
    run_grid,
)

# Metrics by their role in metrics.yaml (cptpipe.metric_table), never by name.
START = CHECKPOINTS[0]  # the start model: a metric of it is `<START>.<group>.<key>`
EM = role_key("headline")  # held-out factual QA, exact match of the generated answer
MC = role_key("multiple_choice")  # secondary: moves before EM does, but chance is free
MC_CHANCE = with_role("multiple_choice").chance
FOLLOW = (role_key("follow", START), role_key("follow"))
FORGETTING = role_key("forgetting")  # the replay perplexity ratio, cpt / start
# general text no phase trains on: the forgetting of what a pretrained start knew (the replay ratio
# falls on a real model whatever it forgets, since its replay sources are new to it and trained)
GENERAL = role_key("general_forgetting")
RECALL = role_key("recall")
START_PPL = f"{START}.{with_role('forgetting').source}"  # the forgetting ratio's raw metric
SEEN = role_key("seen")

# Metrics of the table after arm and seed count: (metrics.json path, column header). FOLLOW is one
# "start → cpt" column, placed where None stands.
COLUMNS = (
    (EM, "held-out EM"),
    (role_key("span"), "held-out answer span"),
    (SEEN, "seen-QA EM"),
    # stored vs extracted: held-out facts completed in their own documents' sentences, and how many
    # wrong held-out answers are a trained question's answer (QA memorized instead of extraction)
    (RECALL, "held-out recall"),
    (role_key("wrong_from_seen"), "wrong = trained answer"),
    (MC, "held-out MC acc"),
    (FORGETTING, "replay ppl ratio"),
    (GENERAL, "general ppl ratio"),
    (None, "instr. follow start → cpt"),
    (role_key("headline_gain"), "EM gain over start"),
)
CLAIM_KEYS = {"claim", "metric", "a", "b"}  # required; min_diff is optional
# A baseline that forgets is broken, not a finding: every arm not labelled as a control must keep
# forgetting and storage within these before any claim is read (grid key `sanity` overrides).
SANITY = {"max_forgetting": 3.0, "recall_of": "base-cpt", "min_recall_share": 0.5}

SCALE = (
    "Scale: the papers train 7B–70B pretrained models on real documents on GPUs; this study "
    "trains a ~1M-parameter scratch Llama for a few CPU minutes per arm on a fictional "
    "encyclopedia. Directions can be compared, magnitudes cannot."
)

# Published figures the study is read against (quoted, not reproduced).
PAPER = (
    (
        "Jiang et al. 2024 (arXiv 2402.12847), Llama-2 7B",
        "held-out QA EM",
        "standard instruction-tuning (documents, then QA) 30.3 → pre-instruction-tuning (PIT++) 48.1",
    ),
    ("Jiang et al. 2024, Llama-2 70B", "held-out QA EM", "46.4 → 62.7"),
    (
        "Ovadia et al. 2025 (Knowledge-Instruct, arXiv 2504.05571)",
        "QA on fictional companies",
        "plain CPT 4.2 → knowledge-instruct (QA/paraphrase injection) 81.8",
    ),
    ("cptpipe's mix.replay range", "forgetting", "5–10% replay of general data limits forgetting"),
)


@dataclass
class Study:
    grid: Grid
    # {claim, metric, a, b[, min_diff]}: "agrees" when b − a > max(min_diff, 2x the larger seed spread)
    claims: list[dict] = field(default_factory=list)
    labelled: dict[str, str] = field(default_factory=dict)  # arm -> why it may fail the sanity check
    sanity: dict = field(default_factory=lambda: dict(SANITY))
    scale: str = SCALE  # what the study's figures can and cannot say, printed under the published ones


def claim_problems(claims: list) -> list[str]:
    """What is wrong with each claims entry (its keys, its min_diff), as one line each."""
    problems = []
    for c in claims:
        if not isinstance(c, dict) or not CLAIM_KEYS <= set(c) <= CLAIM_KEYS | {"min_diff"}:
            problems.append(f"each claims entry needs claim, metric, a, b and optionally min_diff; got {c!r}")
        elif "min_diff" in c and not (isinstance(c["min_diff"], (int, float)) and c["min_diff"] >= 0):
            problems.append(
                f"claim {c['claim']!r}: min_diff must be a number >= 0 (metric units), got {c['min_diff']!r}"
            )
    return problems


def load_study(path: str | Path) -> Study:
    """The grid file and its claims; every problem of both in one error."""
    raw = read_grid(path, own_keys={"claims", "labelled", "sanity", "scale"})
    claims = list(raw.get("claims") or [])
    problems = claim_problems(claims)
    labelled = raw.get("labelled") or {}
    if not isinstance(labelled, dict):
        problems.append(f"labelled: a mapping of arm name to why it may forget, got {labelled!r}")
        labelled = {}
    sanity = {**SANITY, **(raw.get("sanity") or {})}
    if set(sanity) != set(SANITY):
        problems.append(f"sanity: keys are {', '.join(SANITY)}; got {', '.join(sorted(sanity))}")
    grid = grid_from(raw, problems)
    problems += metric_problems({f"claim {c['claim']!r}": c["metric"] for c in claims if not claim_problems([c])})
    if problems:
        raise UserError(f"{path}: " + "; ".join(problems))
    scale = " ".join(str(raw.get("scale") or SCALE).split())
    return Study(grid, claims, {str(k): str(v) for k, v in labelled.items()}, sanity, scale)


def study_arms(study: Study) -> list[Arm]:
    """The grid's arms; a claim, a label or the sanity reference naming an arm the grid lacks fails
    here, before any training."""
    refs = [(f"claim {c['claim']!r}:", [c["a"], c["b"]]) for c in study.claims]
    refs += [("labelled:", list(study.labelled)), ("sanity.recall_of:", [study.sanity["recall_of"]])]
    return expand(study.grid, refs=refs)


def sanity_lines(agg: dict[str, dict], prefix: str, study: Study) -> list[str]:
    """Every arm not labelled a control: replay ppl ratio and held-out recall within the sanity bounds."""
    s = study.sanity
    ref_arm = agg.get(f"{prefix}-{s['recall_of']}")
    ref = mean_of(ref_arm, RECALL) if ref_arm else None
    floor = None if ref is None else s["min_recall_share"] * ref
    failing, lines = [], []
    for name, e in agg.items():
        arm = name.removeprefix(prefix + "-")
        if arm in study.labelled or not e["n"]:
            continue
        ratio, recall = mean_of(e, FORGETTING), mean_of(e, RECALL)
        bad = []
        if ratio is None or ratio > s["max_forgetting"]:
            bad.append(f"replay ppl ratio {cell(e['stats'].get(FORGETTING))} > {s['max_forgetting']:g}")
        if (general := mean_of(e, GENERAL)) is not None and general > s["max_forgetting"]:
            bad.append(f"general ppl ratio {cell(e['stats'].get(GENERAL))} > {s['max_forgetting']:g}")
        if floor is None or recall is None or recall < floor:
            bad.append(
                f"held-out recall {cell(e['stats'].get(RECALL))} < {floor if floor is None else round(floor, 3)}"
            )
        if bad:
            failing.append(f"`{arm}` ({'; '.join(bad)})")
    head = (
        f"Every arm not labelled a control must keep replay (and, where measured, general) ppl ratio "
        f"≤ {s['max_forgetting']:g} and held-out "
        f"recall ≥ {s['min_recall_share']:g}× `{s['recall_of']}`'s ({'–' if ref is None else f'{ref:.3f}'}): "
        "a baseline that forgets makes any recipe look good."
    )
    lines.append(head + (f" **Fails for:** {', '.join(failing)}." if failing else " **Holds for every such arm.**"))
    for arm, why in study.labelled.items():
        e = agg.get(f"{prefix}-{arm}")
        if e and e["n"]:
            lines.append(
                f"- labelled `{arm}` ({why}): replay ppl ratio {cell(e['stats'].get(FORGETTING))}, "
                f"general ppl ratio {cell(e['stats'].get(GENERAL))}, "
                f"held-out recall {cell(e['stats'].get(RECALL))}."
            )
    return lines


def clears(agg: dict[str, dict], key: str, ref: dict[str, float | None]) -> tuple[list[str], list[str]]:
    """(arms whose mean `key` exceeds ref[arm] by more than 2x their seed spread, arms not checkable:
    one run, so no spread, or the metric or reference missing)."""
    hits, unchecked = [], []
    for name, e in agg.items():
        stat = e["stats"].get(key)
        if stat is None or stat[1] is None or ref.get(name) is None:
            unchecked.append(name)
        elif stat[0] - ref[name] > 2 * stat[1]:
            hits.append(name)
    return hits, unchecked


def verdict(agg: dict[str, dict], prefix: str, claim: dict) -> str:
    """One claim checked: `agrees` only when b − a > max(min_diff, 2x the larger seed spread)."""
    a, b, key = claim["a"], claim["b"], claim["metric"]
    min_diff = float(claim.get("min_diff", 0.0))
    what = f"`{key}` {b} − {a}"
    sa, sb = (agg.get(f"{prefix}-{x}", {}).get("stats", {}).get(key) for x in (a, b))
    if sa is None or sb is None:
        missing = [x for x, s in ((a, sa), (b, sb)) if s is None]
        return f"- {claim['claim']}: {what}: not measured (no runs with `{key}` for {', '.join(missing)})."
    diff = sb[0] - sa[0]
    unknown = [x for x, s in ((a, sa), (b, sb)) if s[1] is None]
    floor = 2 * max((s[1] for s in (sa, sb) if s[1] is not None), default=0.0)
    if diff > max(min_diff, floor):
        word = "agrees"
    elif diff < -floor:
        word = "disagrees"
    elif diff > floor:
        word = "beyond noise but below min_diff"
    else:
        word = "no difference beyond noise"
    floor_text = f"±{floor:.3f}"
    if unknown:
        # One run has no spread: the real floor is at least the other arm's, so only "within" is firm.
        bound = "unknown" if len(unknown) == 2 else f"≥ ±{floor:.3f}"
        runs = ", ".join(f"`{x}`" for x in unknown)
        floor_text = f"{bound}, seed spread unknown for {runs} (one run)"
        if word != "no difference beyond noise":
            word += ", unconfirmed"
    return (
        f"- {claim['claim']}: {what} = {diff:+.3f} (noise floor 2× seed spread {floor_text}; "
        f"min_diff {min_diff:.3f}) → **{word}**."
    )


def reading(agg: dict[str, dict], prefix: str, claims: list[dict]) -> list[str]:
    """The grid's claims checked against this study's numbers, stated as measured."""
    return [verdict(agg, prefix, c) for c in claims]


def _row(name: str, e: dict) -> str:
    cells = [name, str(e["n"])]
    for key, _ in COLUMNS:
        if key is None:
            start, cpt = e["stats"].get(FOLLOW[0]), e["stats"].get(FOLLOW[1])
            cells.append(("–" if start is None else f"{start[0]:.3f}") + f" → {cell(cpt)}")
        else:
            cells.append(cell(e["stats"].get(key)))
    cells.append(f"{e['new']}/{e['reused']}")
    return "| " + " | ".join(cells) + " |"


def _provenance(agg: dict[str, dict], short: dict[str, str], failed: list[str], minutes: float) -> list[str]:
    """The header line on this invocation and the note on reused numbers beside the table."""
    new = sum(e["new"] for e in agg.values())
    reused = {short[n]: e for n, e in agg.items() if e["reused"]}
    total = sum(e["n"] for e in agg.values())
    head = (
        f"This invocation: {minutes:.1f} min wall, {new} runs trained and measured in it"
        + (f", {len(failed)} failed" if failed else "")
        + f", {total - new} reused from earlier invocations."
    )
    if not reused:
        note = "Every number in the table was measured in this invocation (column `trained here/reused`)."
    else:
        note = (
            f"**Reused numbers:** {total - new} of the {total} runs in the table were measured by earlier "
            "invocations of `cptpipe study` on this commit, not in this one: "
            + ", ".join(f"`{n}` ({e['reused']} of {e['n']})" for n, e in reused.items())
            + ". `cptpipe study --fresh` removes them and measures every run again."
        )
    return [head, note]


def _starts(agg: dict[str, dict], short: dict[str, str]) -> list[str]:
    """Per start kind: the start model's own numbers, and instruction-following after CPT by arm."""
    lines = []
    for kind in dict.fromkeys(e["start"] for e in agg.values()):
        mine = {n: e for n, e in agg.items() if e["start"] == kind}
        e = next((e for e in mine.values() if e["stats"]), None)
        if e is None:
            continue
        em, mc, ppl = role_key("headline", START), role_key("multiple_choice", START), START_PPL
        keys = (em, mc, ppl, FOLLOW[0])
        vals = {k: mean_of(e, k) for k in keys}
        fmt = {k: "–" if v is None else f"{v:,.0f}" if k.endswith("ppl") else f"{v:.3f}" for k, v in vals.items()}
        after = ", ".join(f"`{short[n]}` {cell(x['stats'].get(FOLLOW[1]))}" for n, x in mine.items() if x["n"])
        lines.append(
            f"- `{kind}` start: held-out EM {fmt[em]}, held-out MC acc "
            f"{fmt[mc]}, replay ppl {fmt[ppl]}, instr. follow "
            f"{fmt[FOLLOW[0]]} before CPT; after CPT: {after}."
        )
    return lines


def _above(agg: dict[str, dict], short: dict[str, str]) -> list[str]:
    def names(xs: list[str]) -> str:
        return ", ".join(f"`{short[x]}`" for x in xs)

    em_hits, em_skip = clears(agg, EM, {n: mean_of(e, role_key("headline", START)) for n, e in agg.items()})
    mc_hits, _ = clears(agg, MC, dict.fromkeys(agg, MC_CHANCE))
    if len(em_skip) == len(agg):
        lines = ["No arm has held-out EM from more than one seed: none can be checked against a seed spread."]
    elif em_hits:
        lines = [f"Held-out EM exceeds the start's held-out EM by more than 2× the seed spread for: {names(em_hits)}."]
    else:
        lines = [
            (
                "No arm's held-out EM exceeds its start's by more than 2× its seed spread: the EM differences "
                "below are not interpretable at this scale."
            )
        ]
    if em_skip:
        lines.append(f"Not checkable (one run, so no spread, or no EM): {names(em_skip)}.")
    lines.append(
        "Secondary, multiple choice: held-out MC accuracy exceeds chance "
        f"({MC_CHANCE}) by more than 2× the seed spread for: {names(mc_hits) or 'no arm'}."
    )
    return lines


def render(agg: dict[str, dict], study: Study, grid_file: str, failed: list[str], minutes: float, png_name: str) -> str:
    prefix = study.grid.prefix
    short = {n: n.removeprefix(prefix + "-") for n in agg}
    heads = ["arm", "runs"] + [h for _, h in COLUMNS] + ["trained here/reused"]
    head, note = _provenance(agg, short, failed, minutes)
    lines = [
        "# cptpipe study",
        "",
        (
            f"Grid `{grid_file}`; every arm is a DVC experiment (`dvc exp show` lists them as "
            f"`{prefix}-<arm>-s<seed>`). Values are the cpt checkpoint's; `± x` is the sample standard "
            "deviation over `mix.seed` runs (same start model and split, different sampling order); a value "
            "without `±` is one run, its spread unknown. The headline is held-out EM: exact match of the "
            "generated answer to factual questions about training documents whose QA was never trained on. "
            f"Held-out EM chance is ~0; multiple-choice chance is {MC_CHANCE}. {head}"
        ),
        "",
        "| " + " | ".join(heads) + " |",
        "|" + "---|" * len(heads),
        *(_row(short[n], e) for n, e in agg.items()),
        "",
        note,
    ]
    if starts := _starts(agg, short):
        lines += [
            "",
            (
                "Start models before training (an arm's EM gain, replay ppl ratio and "
                "instruction-following change are relative to its own start):"
            ),
            "",
            *starts,
        ]
    lines += ["", "## Sanity: no arm forgets catastrophically", "", *sanity_lines(agg, prefix, study)]
    lines += ["", "## Above chance?", "", *_above(agg, short)]
    lines += ["", "## The study's claims at this scale", ""] + (
        reading(agg, prefix, study.claims) or ["(the grid declares no claims)"]
    )
    lines += [
        "",
        "## Published figures (for reading, not reproduced)",
        "",
        "| source | metric | reported |",
        "|---|---|---|",
    ]
    lines += [f"| {s} | {m} | {r} |" for s, m, r in PAPER]
    lines += [
        "",
        study.scale,
        "",
        f"![study]({png_name})",
    ]
    lines += failed_lines("arms", "Rerun `make study`", failed)
    return "\n".join(lines) + "\n"


def plot(agg: dict[str, dict], prefix: str, out: Path) -> None:
    from cptpipe.report.plots import plt, save_figure  # matplotlib loads only when a figure is drawn

    names = list(agg)
    ys = range(len(names))

    def col(key: str, i: int) -> list[float]:
        stats = [agg[n]["stats"].get(key) for n in names]
        return [math.nan if s is None else 0.0 if s[i] is None else s[i] for s in stats]

    panels = [
        (EM, "held-out QA exact match (◆ seen QA, | start)", None),
        (MC, "held-out QA, multiple choice (acc)", MC_CHANCE),
        (FORGETTING, "forgetting: replay perplexity cpt / start (log)", 1.0),
    ]
    if any(agg[n]["stats"].get(GENERAL) for n in names):  # a pretrained start: what it knew, trained by no phase
        panels.append((GENERAL, "forgetting: general-text perplexity cpt / start (log)", 1.0))
    fig, axes = plt.subplots(1, len(panels), figsize=(5 * len(panels), 1.8 + 0.3 * len(names)))
    colors = ["tab:orange" if agg[n]["start"] == "instruct" else "tab:blue" for n in names]
    for ax, (key, title, ref) in zip(axes, panels):
        ax.barh(ys, col(key, 0), xerr=col(key, 1), color=colors, capsize=3)
        if key == EM:
            # seen EM beside held-out EM: a gap is memorised-but-not-generalised knowledge
            ax.plot(col(SEEN, 0), ys, "kD", ms=5, label="seen-QA EM")
            ax.plot(col(role_key("headline", START), 0), ys, "|", color="grey", ms=12, mew=2, label="start held-out EM")
        else:
            ax.axvline(ref, color="black", ls=":", lw=1, label="chance" if key == MC else "no change")
        if key in (FORGETTING, GENERAL):
            ax.set_xscale("log")  # ratios from ~0.1 to ~40: a linear axis hides the small ones
        ax.legend(loc="best", fontsize=7)
        ax.set_yticks(
            ys, [n.removeprefix(prefix + "-") for n in names] if ax is axes[0] else [""] * len(names), fontsize=8
        )
        ax.invert_yaxis()
        ax.set_title(title, fontsize=10)
        ax.set_xlabel(key)
        ax.grid(axis="x", alpha=0.3)
    fig.suptitle("cptpipe study: mean ± seed std (blue: base start, orange: instruct start)")
    save_figure(fig, out)


def run_study(
    grid_file: str | Path, out_md: str | Path, cwd: str | Path = ".", fresh: bool = False, jobs: int = 1
) -> str:
    """Run the grid's missing arms (all of them with fresh=True) and write the report to out_md, its
    figure beside it (.png); both relative to cwd unless absolute."""
    cwd, out_png = Path(cwd), Path(out_md).with_suffix(".png")
    study = load_study(cwd / grid_file if not Path(grid_file).is_absolute() else grid_file)
    arms = study_arms(study)
    outcome = run_grid(arms, cwd, jobs=jobs, fresh=fresh, copy_paths=study.grid.copy_paths)
    agg = aggregate(arms, outcome.rows, outcome.before)
    (cwd / out_png).parent.mkdir(parents=True, exist_ok=True)
    plot(agg, study.grid.prefix, cwd / out_png)
    md = render(agg, study, str(grid_file), outcome.failed, outcome.minutes, out_png.name)
    write_text(cwd / out_md, md)
    n = sum(e["n"] for e in agg.values())
    new = sum(e["new"] for e in agg.values())
    return (
        f"{n}/{len(arms)} runs with metrics, {len(outcome.failed)} failed, {new} trained in this invocation, "
        f"{n - new} reused -> {out_md}, {out_png}"
    )

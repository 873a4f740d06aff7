"""The sweep's report: the markdown table, front, recommendation, extra arms and fits; its figure (drawn by
cptpipe.report.plots); `run_sweep`, the whole command."""

from __future__ import annotations

from pathlib import Path

from cptpipe.io import write_text
from cptpipe.params.yamlio import load_yaml
from cptpipe.runner import cell, expand, failed_lines, run_grid
from cptpipe.sweep.analysis import Reading, compare_to_best, dominators, read_sweep, role
from cptpipe.sweep.spec import Sweep, as_grid, load_sweep, params_value


def _fmt(value: object) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def _point_rows(sweep: Sweep, reading: Reading, keys: list[str]) -> list[str]:
    lines = []
    for name, s in sorted(reading.stats.items(), key=lambda kv: kv[1]["x"][0]):
        mark = {"extra": "extra", "recommended": "**recommended**", "front": "yes", "off": ""}[
            role(sweep, reading, name)
        ]
        lines.append(
            "| "
            + " | ".join(
                [
                    f"`{name}`",
                    # an extra arm leaves unset keys at `common` / params.yaml: shown as "·", not a value
                    *(_fmt(s["params"][k]) if k in s["params"] else "·" for k in keys),
                    str(s["n"]),
                    cell(s["x"]),
                    cell(s["y"]),
                    mark,
                    str(s["new"]),
                ]
            )
            + " |"
        )
    return lines


def _front_lines(reading: Reading) -> list[str]:
    lines: list[str] = []
    lines += ["", "## Pareto front", ""]
    lines += [
        f"- `{n}`: forgetting {cell(reading.stats[n]['x'])}, absorption {cell(reading.stats[n]['y'])}; "
        + ", ".join(f"`{k}={_fmt(v)}`" for k, v in reading.stats[n]["params"].items())
        for n in reading.front
    ] or ["(no point has both metrics)"]
    return lines


def _recommendation_lines(sweep: Sweep, reading: Reading, budget: str) -> list[str]:
    lines: list[str] = []
    lines += ["", "## Recommended setting", ""]
    if reading.best is None:
        lines.append(
            f"No front member keeps forgetting within {budget}; raise `max_forgetting` "
            "(or `--max-forgetting`) or sweep more replay."
        )
    else:
        s = reading.stats[reading.best]
        overrides = " ".join(f"-S {k}={_fmt(v)}" for k, v in s["params"].items())
        lines += [
            f"`{reading.best}`: absorption {cell(s['y'])} at forgetting {cell(s['x'])} (budget {budget}).",
            "",
            f"Adopt it in the workspace (its `mix.seed` {sweep.seeds[0]} run; then commit params.yaml and dvc.lock):",
            "",
            f"    dvc exp apply {sweep.prefix}-{reading.best}-s{sweep.seeds[0]}",
            "",
            f"or rerun it on another commit: `dvc exp run {overrides}`.",
        ]
        spread_x = s["x"][1]
        if (
            spread_x is not None
            and sweep.max_forgetting is not None
            and s["x"][0] + 2 * spread_x > sweep.max_forgetting
        ):
            lines.append(
                f"Within seed noise of the budget: forgetting {s['x'][0]:.3f} + 2× {spread_x:.3f} "
                f"exceeds {budget}; a safer pick has more replay."
            )
    return lines


def _extra_line(sweep: Sweep, reading: Reading, name: str, budget: str) -> str:
    settings = ", ".join(f"`{k}={_fmt(v)}`" for k, v in sweep.extra[name].items())
    s = reading.stats.get(name)
    if s is None:
        return f"- `{name}` ({settings}): not measured (failed, or a run lacks a metric)."
    within = (
        "no forgetting budget"
        if sweep.max_forgetting is None
        else f"{'within' if s['x'][0] <= sweep.max_forgetting else 'over'} the budget {budget}"
    )
    text = f"- `{name}` ({settings}): absorption {cell(s['y'])}, forgetting {cell(s['x'])} ({within})"
    if reading.best is not None:
        diff, spread, verdict = compare_to_best(s, reading.stats[reading.best])
        noise = "no seed spread: one seed each" if spread is None else f"larger seed spread {spread:.3f}"
        text += f"; absorption {diff:+.3f} against `{reading.best}` ({noise}): **{verdict}**"
    dom = dominators(s, reading)
    text += ("; dominated by front " + ", ".join(f"`{n}`" for n in dom)) if dom else "; no front member dominates it"
    return text + "."


def _extra_lines(sweep: Sweep, reading: Reading, budget: str) -> list[str]:
    if not sweep.extra:
        return []
    lines = ["", "## Extra arms against the recommended point", ""]
    if reading.best is None:
        lines += ["No recommended point (no front member within the budget) to compare them with.", ""]
    lines += [_extra_line(sweep, reading, name, budget) for name in sweep.extra]
    lines += [
        "",
        (
            "Extra arms run per seed like the points but are not on the front; `·` in the table: the arm "
            "leaves that key at `common` / params.yaml. Better or worse: the absorption difference exceeds "
            "the larger of the two seed spreads; dominated: a front member forgets no more and absorbs more "
            "(means)."
        ),
    ]
    return lines


def _fit_lines(sweep: Sweep, reading: Reading, budget: str) -> list[str]:
    lines: list[str] = []
    if not sweep.axis:
        return lines
    lines += ["", f"## Trade-off along `{sweep.axis}` (monotone fits)", ""]
    if not reading.fits:
        lines.append("(fewer than two axis values with both metrics: no fit)")
    for f in reading.fits:
        where = ", ".join(f"`{k}={_fmt(v)}`" for k, v in f["group"].items()) or "all points"
        cross, fitted = f.get("crossing"), f["x"]["fitted"]
        budget_text = (
            ""
            if sweep.max_forgetting is None
            else f" The fitted forgetting stays within the budget {budget} over the swept range."
            if max(fitted) <= sweep.max_forgetting
            else f" The fitted forgetting crosses the budget {budget} at `{sweep.axis}` ≈ {cross:.3g}."
            if cross is not None
            else f" The fitted forgetting never falls to {budget} in the swept range."
        )
        lines.append(
            f"- {where}: forgetting {' → '.join(f'{v:.3g}' for v in f['x']['fitted'])} "
            f"(RMS residual {f['x']['rms']:.3g}), absorption {' → '.join(f'{v:.3f}' for v in f['y']['fitted'])} "
            f"(RMS residual {f['y']['rms']:.3f}) at `{sweep.axis}` {', '.join(_fmt(v) for v in f['x']['axis'])}."
            + budget_text
        )
    lines += [
        "",
        (
            "Isotonic regression (scikit-learn): the least-squares monotone curve, its direction "
            "chosen by the data; a residual near the seed spread means the monotone shape explains "
            "the points."
        ),
    ]
    return lines


def render(
    sweep: Sweep, reading: Reading, sweep_file: str, failed: list[str], minutes: float, png_name: str, repetition: str
) -> str:
    keys = sweep.keys + [k for k in sweep.complement if k not in sweep.keys]
    heads = [
        "point",
        *keys,
        "runs",
        f"forgetting `{sweep.forgetting}`",
        f"absorption `{sweep.absorption}`",
        "front",
        "trained here",
    ]
    new = sum(s["new"] for s in reading.stats.values())
    total = sum(s["n"] for s in reading.stats.values())
    budget = "none" if sweep.max_forgetting is None else f"{sweep.max_forgetting:g}"
    lines = [
        "# cptpipe sweep",
        "",
        (
            f"Sweep `{sweep_file}`: {len(sweep.points)} points"
            + (f" and {len(sweep.extra)} extra arms" if sweep.extra else "")
            + f" × {len(sweep.seeds)} seeds (`mix.seed` {sweep.seeds}), each run a DVC experiment "
            f"`{sweep.prefix}-<{'point or arm' if sweep.extra else 'point'}>-s<seed>` (`dvc exp show`). "
            f"This invocation: {minutes:.1f} min wall, {new} of {total} runs trained in it, {total - new} reused "
            f"from earlier invocations on this commit" + (f", {len(failed)} failed" if failed else "") + ". "
            "`± x` is the sample standard deviation over seeds. Forgetting: lower is better; absorption: higher "
            f"is better. Forgetting budget (`max_forgetting`): {budget}. {repetition}"
        ),
        "",
        "| " + " | ".join(heads) + " |",
        "|" + "---|" * len(heads),
    ]
    lines += _point_rows(sweep, reading, keys)
    lines += _front_lines(reading)
    lines += _recommendation_lines(sweep, reading, budget)
    lines += _extra_lines(sweep, reading, budget)
    lines += _fit_lines(sweep, reading, budget)
    lines += ["", f"![sweep]({png_name})"]
    lines += failed_lines("runs", "Rerun the sweep", failed)
    return "\n".join(lines) + "\n"


def plot(sweep: Sweep, reading: Reading, out: Path) -> None:
    """The front and the fits as a PNG (cptpipe.report.plots draws it)."""
    from cptpipe.report.plots import plot_sweep  # matplotlib loads only when a figure is drawn

    axes = {"forgetting": sweep.forgetting, "absorption": sweep.absorption}
    axes |= {"max_forgetting": sweep.max_forgetting, "axis": sweep.axis}
    roles = {name: role(sweep, reading, name) for name in reading.stats}
    plot_sweep(reading.stats, roles, reading.front, reading.fits, axes, out)


def repetition_note(sweep: Sweep, params: dict) -> str:
    """How often each run repeats the domain documents: proxies mislead when this differs from the
    target run's (arXiv 2606.07597), so the report states it."""
    epochs = sweep.common.get("mix.domain_epochs", params_value(params, "mix.domain_epochs"))
    tokens = sweep.common.get("mix.tokens", params_value(params, "mix.tokens"))
    if tokens is None and "mix.domain_epochs" not in sweep.keys and "mix.tokens" not in sweep.keys:
        return (
            f"Every run repeats the domain documents {_fmt(epochs)} times (`mix.domain_epochs`) whatever its "
            "replay share, so points differ only in what the sweep sets; run the chosen setting on the "
            "target model with the same number of domain passes: proxy mixture results mislead when the "
            "repetition rate differs (arXiv 2606.07597)."
        )
    return (
        "The domain repetition rate differs between points (`mix.tokens` or `mix.domain_epochs` is set or "
        "swept); compare points at equal domain passes before carrying a ratio to the target run "
        "(arXiv 2606.07597)."
    )


def run_sweep(
    sweep_file: str | Path,
    out_md: str | Path,
    cwd: str | Path = ".",
    jobs: int = 1,
    max_forgetting: float | None = None,
) -> str:
    """Run the sweep's missing experiments and write its report to out_md, its figure beside it (.png);
    both relative to cwd unless absolute. Returns a one-line summary."""
    cwd, out_png = Path(cwd), Path(out_md).with_suffix(".png")
    params = load_yaml((cwd / "params.yaml").read_text())
    sweep = load_sweep(cwd / sweep_file if not Path(sweep_file).is_absolute() else sweep_file, params)
    if max_forgetting is not None:
        sweep.max_forgetting = max_forgetting
    grid = as_grid(sweep, params)
    arms = expand(grid)
    outcome = run_grid(arms, cwd, jobs=jobs, desc="sweep")
    reading = read_sweep(sweep, grid, arms, outcome.rows, outcome.before)
    (cwd / out_png).parent.mkdir(parents=True, exist_ok=True)
    plot(sweep, reading, cwd / out_png)
    md = render(
        sweep,
        reading,
        str(sweep_file),
        outcome.failed,
        outcome.minutes,
        out_png.name,
        repetition_note(sweep, params),
    )
    write_text(cwd / out_md, md)
    best = f"recommended {reading.best}" if reading.best else "no point within the forgetting budget"
    measured = [n for n in reading.stats if n not in sweep.extra]
    extra = f", {len(reading.stats) - len(measured)}/{len(sweep.extra)} extra arms" if sweep.extra else ""
    return (
        f"{len(measured)}/{len(sweep.points)} points{extra} measured, front {reading.front}, {best}, "
        f"{len(outcome.failed)} failed -> {out_md}, {out_png}"
    )

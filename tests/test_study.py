"""The study's grid file, claims and report (pure parts); tests/test_e2e.py runs a quick study for real.

The runner it runs on (expansion, queueing, aggregation) is tested in tests/test_runner.py."""

import re
from pathlib import Path

import pytest

from cptpipe.errors import UserError
from cptpipe.runner import Arm, Grid, aggregate
from cptpipe.study import Study, clears, load_study, plot, reading, render, sanity_lines, study_arms, verdict

ROOT = Path(__file__).resolve().parents[1]

GRID = """name: t
common: {train.lr: 0.001}
axes:
  start: {base: {model.kind: base}, instruct: {model.kind: instruct}}
  recipe: {cpt: {train.recipe: cpt}, pit: {train.recipe: pit}}
extra:
  base-pit-r0: {from: base-pit, set: {mix.replay: 0.0}}
seeds: {values: [3, 4], arms: [base-pit]}
claims:
  - {claim: c, metric: cpt.domain_qa.em, a: base-cpt, b: base-pit-r0, min_diff: 0.1}
"""


@pytest.mark.parametrize("grid_file", ["study/grid.yaml", "study/quick.yaml", "study/grid-smollm2.yaml"])
def test_every_arm_is_a_valid_params_file(grid_file):
    """Each arm's overrides applied to params.yaml must pass the schema (no arm fails at run time)."""
    import yaml

    from cptpipe.params import parse_params

    base = yaml.safe_load((ROOT / "params.yaml").read_text())
    for arm in study_arms(load_study(ROOT / grid_file)):
        params = yaml.safe_load(yaml.safe_dump(base))
        for key, value in arm.overrides:
            *path, last = key.split(".")
            node = params
            for part in path:
                node = node[part]
            assert last in node, f"{arm.name}: {key} is not a params key"
            node[last] = value
        parse_params(params)


def test_grid_errors_name_every_problem_at_once(tmp_path):
    bad = tmp_path / "g.yaml"
    bad.write_text(
        GRID.replace("arms: [base-pit]", "arms: [nope]")
        .replace("b: base-pit-r0", "b: base-pat")
        .replace("from: base-pit", "from: typo-arm")
    )
    with pytest.raises(UserError) as err:
        study_arms(load_study(bad))
    assert "nope" in str(err.value) and "base-pat" in str(err.value) and "typo-arm" in str(err.value)
    bad.write_text(GRID.replace("min_diff: 0.1", "min_diff: -1") + "  - {claim: d, metric: m, a: x}\n")
    with pytest.raises(UserError) as err:
        load_study(bad)
    assert "min_diff must be a number >= 0" in str(err.value) and "'claim': 'd'" in str(err.value)
    bad.write_text(GRID.replace("min_diff: 0.1", "margin: 0.1"))
    with pytest.raises(UserError, match="margin"):
        load_study(bad)
    bad.write_text(GRID.replace("name: t", "name: a b").replace("min_diff: 0.1", "min_diff: x"))
    with pytest.raises(UserError, match=r"min_diff must be a number.*name='a b'"):  # claims and grid at once
        load_study(bad)


def _arms(name: str, seeds: int, kind: str = "base") -> list[Arm]:
    return [Arm(name, s, (("model.kind", kind),)) for s in range(seeds)]


def _rows(values: dict[str, dict[str, float]]) -> dict[str, dict]:
    return {exp: {"metrics": m} for exp, m in values.items()}


def test_clears_needs_a_spread_and_a_reference():
    arms = _arms("s-a", 3) + _arms("s-b", 2) + _arms("s-c", 1)
    em = {"s-a-s0": 0.10, "s-a-s1": 0.12, "s-a-s2": 0.14, "s-b-s0": 0.0, "s-b-s1": 0.2, "s-c-s0": 0.9}
    agg = aggregate(arms, _rows({k: {"cpt.domain_qa.em": v} for k, v in em.items()}), set())
    # s-a: 0.12 - 0.05 > 2 * 0.02; s-b: 0.10 - 0.05 < 2 * 0.141; s-c: one run, not checkable
    assert clears(agg, "cpt.domain_qa.em", dict.fromkeys(agg, 0.05)) == (["s-a"], ["s-c"])
    # the reference is per arm (its own start): a higher start hides the same mean
    assert clears(agg, "cpt.domain_qa.em", {"s-a": 0.09, "s-b": 0.0, "s-c": 0.0}) == ([], ["s-c"])
    assert clears(agg, "cpt.domain_qa.em", {"s-a": None, "s-b": 0.0})[1] == ["s-a", "s-c"]


def _agg(values: dict[str, list[float]], key: str = "cpt.domain_qa.em") -> dict[str, dict]:
    arms = [a for name, vs in values.items() for a in _arms(name, len(vs))]
    rows = _rows({f"{name}-s{i}": {key: v} for name, vs in values.items() for i, v in enumerate(vs)})
    return aggregate(arms, rows, set())


def test_verdict_needs_both_min_diff_and_the_noise_floor():
    agg = _agg({"s-a": [0.30, 0.31, 0.29], "s-b": [0.40, 0.41, 0.39], "s-c": [0.50, 0.52, 0.48], "s-d": [0.60]})
    claim = {"claim": "b beats a", "metric": "cpt.domain_qa.em", "a": "a", "b": "b"}
    line = verdict(agg, "s", claim)  # +0.100 against a floor of 2 x 0.01
    assert "= +0.100" in line and "±0.020" in line and "min_diff 0.000" in line and "**agrees**" in line
    line = verdict(agg, "s", {**claim, "min_diff": 0.15})
    assert "min_diff 0.150" in line and "**beyond noise but below min_diff**" in line
    assert "**agrees**" in verdict(agg, "s", {**claim, "b": "c", "min_diff": 0.15})  # +0.200 > 0.15 > 0.04
    assert "**disagrees**" in verdict(agg, "s", {**claim, "a": "c", "b": "a"})
    assert "**no difference beyond noise**" in verdict(agg, "s", {**claim, "b": "a"})
    assert "not measured" in verdict(agg, "s", {**claim, "b": "zzz"}) and "zzz" in verdict(
        agg, "s", {**claim, "b": "zzz"}
    )


def test_verdict_says_when_a_seed_spread_is_unknown():
    agg = _agg({"s-a": [0.30, 0.31, 0.29], "s-d": [0.60], "s-e": [0.305]})
    claim = {"claim": "d beats a", "metric": "cpt.domain_qa.em", "a": "a", "b": "d", "min_diff": 0.1}
    line = verdict(agg, "s", claim)
    assert "seed spread unknown for `d` (one run)" in line and "≥ ±0.020" in line
    assert "**agrees, unconfirmed**" in line
    # within the known arm's floor: firm even though one spread is unknown
    assert "**no difference beyond noise**" in verdict(agg, "s", {**claim, "b": "e"})
    line = verdict(agg, "s", {**claim, "a": "e"})  # both single runs
    assert "noise floor 2× seed spread unknown" in line and "`e`, `d`" in line and "unconfirmed" in line
    assert reading(agg, "s", [claim, {**claim, "a": "e"}]) == [verdict(agg, "s", claim), line]


def _quick(em: dict[str, float], before: set[str]) -> tuple[dict, Study]:
    study = load_study(ROOT / "study/quick.yaml")
    arms = study_arms(study)
    rows = _rows(
        {
            exp: {
                "cpt.domain_qa.em": v,
                "start.domain_qa.em": 0.0,
                "cpt.domain_qa_mc.acc": 0.3,
                "start.instruct.follow": 0.25,
                "cpt.instruct.follow": 0.5,
            }
            for exp, v in em.items()
        }
    )
    return aggregate(arms, rows, before), study


def test_render_labels_reused_runs_and_the_invocation():
    agg, study = _quick(
        {"quick-base-cpt-s0": 0.05, "quick-base-pit-s0": 0.1, "quick-base-pit-s1": 0.12}, before={"quick-base-pit-s0"}
    )
    md = render(agg, study, "study/quick.yaml", ["quick-base-zzz-s0"], 12.34, "study.png")
    # tests/test_e2e.py reads the seed count right after the arm and the headline EM right after it
    assert re.search(r"\| base-pit \| 2 \| 0\.110 ± 0\.014 \| .* \| 0\.250 → 0\.500 ± 0\.000 \| .* \| 1/1 \|", md)
    assert re.search(r"\| base-cpt \| 1 \| 0\.050 \| .* \| 1/0 \|", md)
    assert "| held-out EM | held-out answer span | seen-QA EM | held-out recall | wrong = trained answer |" in md
    assert "12.3 min wall, 2 runs trained and measured in it, 1 failed, 1 reused" in md
    assert "**Reused numbers:** 1 of the 3 runs" in md and "`base-pit` (1 of 2)" in md and "--fresh" in md
    assert "30.3" in md and "48.1" in md and "`quick-base-zzz-s0`" in md
    assert "more than 2× the seed spread for: `base-pit`." in md  # 0.11 - 0 > 2 x 0.014
    assert "Not checkable (one run, so no spread, or no EM): `base-cpt`." in md
    assert "min_diff 0.050) → **agrees, unconfirmed**" in md  # cpt ran once

    agg, study = _quick({"quick-base-cpt-s0": 0.0, "quick-base-pit-s0": 0.0, "quick-base-pit-s1": 0.0}, set())
    md = render(agg, study, "study/quick.yaml", [], 1.0, "study.png")
    assert "Every number in the table was measured in this invocation" in md and "Reused numbers" not in md
    assert "No arm's held-out EM exceeds its start's" in md

    agg, study = _quick({"quick-base-cpt-s0": 0.1, "quick-base-pit-s0": 0.2}, set())  # one seed each
    md = render(agg, study, "study/quick.yaml", [], 1.0, "study.png")
    assert "No arm has held-out EM from more than one seed" in md and "`base-cpt`, `base-pit`" in md
    assert "2 runs trained and measured in it, 0 reused" in md


def test_render_states_each_start_model_separately():
    arms = _arms("t-base-cpt", 1) + _arms("t-instruct-cpt", 1, "instruct") + _arms("t-instruct-pit", 1, "instruct")
    start = {"base": (0.0, 0.25, 7000.0, 0.0), "instruct": (0.01, 0.29, 177000.0, 0.4)}
    rows = {}
    for a, follow in zip(arms, (0.05, 0.1, 0.3)):
        em, mc, ppl, f0 = start[dict(a.overrides)["model.kind"]]
        rows[a.exp_name] = {
            "metrics": {
                "start.domain_qa.em": em,
                "start.domain_qa_mc.acc": mc,
                "start.replay.ppl": ppl,
                "start.instruct.follow": f0,
                "cpt.instruct.follow": follow,
            }
        }
    md = render(aggregate(arms, rows, set()), Study(Grid("t", {}, {"a": {}})), "g.yaml", [], 2.0, "study.png")
    assert (
        "- `base` start: held-out EM 0.000, held-out MC acc 0.250, replay ppl 7,000, instr. follow 0.000 "
        "before CPT; after CPT: `base-cpt` 0.050."
    ) in md
    assert (
        "- `instruct` start: held-out EM 0.010, held-out MC acc 0.290, replay ppl 177,000, instr. follow "
        "0.400 before CPT; after CPT: `instruct-cpt` 0.100, `instruct-pit` 0.300."
    ) in md


def test_plot_draws_arms_with_missing_metrics_and_single_runs(tmp_path):
    agg, study = _quick({"quick-base-cpt-s0": 0.05, "quick-base-pit-s0": 0.1, "quick-base-pit-s1": 0.12}, set())
    agg["quick-base-pit"]["stats"]["forgetting.ppl_ratio"] = (3.0, 0.5)
    plot(agg, study.grid.prefix, tmp_path / "study.png")
    assert (tmp_path / "study.png").stat().st_size > 5000


def test_sanity_names_every_unlabelled_arm_that_forgets_and_reports_the_labelled_ones():
    arms = _arms("s-base-cpt", 2) + _arms("s-good", 1) + _arms("s-forgets", 1) + _arms("s-naive", 1)
    metrics = {
        "s-base-cpt-s0": (1.2, 0.40),
        "s-base-cpt-s1": (1.3, 0.44),
        "s-good-s0": (2.9, 0.30),  # within both bounds: ratio <= 3, recall >= 0.5 x 0.42
        "s-forgets-s0": (3.5, 0.05),
        "s-naive-s0": (2600.0, 0.02),
    }
    rows = _rows({k: {"forgetting.ppl_ratio": r, "cpt.domain_recall.em": m} for k, (r, m) in metrics.items()})
    agg = aggregate(arms, rows, set())
    grid = load_study(ROOT / "study/quick.yaml").grid
    study = Study(grid, [], {"naive": "QA phase at the documents' LR"})
    lines = sanity_lines(agg, "s", study)
    assert "**Fails for:** `forgets` (replay ppl ratio 3.500 > 3; held-out recall 0.050 < 0.21)." in lines[0]
    assert "`good`" not in lines[0] and "`naive`" not in lines[0]
    assert lines[1].startswith("- labelled `naive` (QA phase at the documents' LR): replay ppl ratio 2600")
    study.labelled["forgets"] = "control"
    assert "**Holds for every such arm.**" in sanity_lines(agg, "s", study)[0]
    # a real start: the general-text ratio (trained by no phase) is checked beside the replay one
    rows["s-good-s0"]["metrics"]["forgetting.general_ppl_ratio"] = 4.0
    rows["s-base-cpt-s0"]["metrics"]["forgetting.general_ppl_ratio"] = 1.1
    lines = sanity_lines(aggregate(arms, rows, set()), "s", study)
    assert "**Fails for:** `good` (general ppl ratio 4.000 > 3)." in lines[0]


def test_a_grid_names_its_scale_and_the_paths_its_arms_need(tmp_path):
    smol = load_study(ROOT / "study/grid-smollm2.yaml")
    assert smol.grid.copy_paths == ["models/gguf"] and "135M-parameter" in smol.scale
    agg, _ = _quick({"quick-base-cpt-s0": 0.05}, set())
    assert smol.scale in render(agg, smol, "study/grid-smollm2.yaml", [], 1.0, "s.png")
    assert "~1M-parameter scratch Llama" in load_study(ROOT / "study/grid.yaml").scale  # the default
    bad = tmp_path / "g.yaml"
    bad.write_text(GRID + "copy_paths: [/home/me/models, ../elsewhere]\n")
    with pytest.raises(UserError, match=r"copy_paths: '/home/me/models' must be a path inside.*'../elsewhere'"):
        load_study(bad)


def test_a_claim_naming_an_unknown_metric_fails_at_load_listing_the_known_ones(tmp_path):
    bad = tmp_path / "g.yaml"
    bad.write_text(GRID.replace("metric: cpt.domain_qa.em", "metric: cpt.domain_qa.exact"))
    with pytest.raises(UserError) as err:
        load_study(bad)
    msg = str(err.value)
    assert "claim 'c': unknown metric 'cpt.domain_qa.exact'" in msg
    assert "known metrics:" in msg and "cpt.domain_qa.em" in msg and "absorption.em_gain" in msg

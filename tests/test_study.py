"""The study's grid expansion and reading (pure parts); tests/test_e2e.py runs a quick study for real."""

from pathlib import Path

import pytest

from cptpipe.errors import UserError
from cptpipe.study import (Arm, above_chance, aggregate, expand, load_grid, queue_status, reading,
                           render, set_args)

ROOT = Path(__file__).resolve().parents[1]


def test_default_grid_has_every_arm_of_the_issue_and_seeded_headlines():
    grid = load_grid(ROOT / "study/grid.yaml")
    arms = expand(grid)
    names = {a.name for a in arms}
    # start kind x 4 recipes, replay 0 for the base recipes, plus paraphrase, PIT++ and mixed arms
    assert len(names) == 2 * 4 + 4 + 3
    for recipe in ("cpt", "it_after_cpt", "pit", "pit_final_it"):
        assert {f"study-base-{recipe}", f"study-instruct-{recipe}", f"study-base-{recipe}-r0"} <= names
        r0 = dict(next(a for a in arms if a.name == f"study-base-{recipe}-r0").overrides)
        assert r0["mix.replay"] == 0.0 and r0["train.recipe"] == recipe
    seeded = [a for a in arms if a.name == "study-base-pit"]
    assert sorted(a.seed for a in seeded) == [0, 1, 2]
    assert len({a.exp_name for a in arms}) == len(arms)  # experiment names never clash
    para = dict(next(a for a in arms if a.name == "study-base-pit-para2").overrides)
    assert para["qa.paraphrases"] == 2 and para["train.recipe"] == "pit"


def test_every_arm_is_a_valid_params_file():
    """Each arm's overrides applied to params.yaml must pass the schema (no arm fails at run time)."""
    import yaml

    from cptpipe.params import parse_params

    base = yaml.safe_load((ROOT / "params.yaml").read_text())
    for arm in expand(load_grid(ROOT / "study/grid.yaml")) + expand(load_grid(ROOT / "study/quick.yaml")):
        params = yaml.safe_load(yaml.safe_dump(base))
        for key, value in arm.overrides:
            *path, last = key.split(".")
            node = params
            for part in path:
                node = node[part]
            assert last in node, f"{arm.name}: {key} is not a params key"
            node[last] = value
        parse_params(params)


def test_set_args_writes_yaml_scalars():
    arm = Arm("x", 0, (("mix.replay", 0.0), ("model.scratch.instruct_tune", True), ("train.recipe", "pit"),
                       ("train.lr", None)))
    assert set_args(arm) == ["-S", "mix.replay=0.0", "-S", "model.scratch.instruct_tune=true",
                             "-S", "train.recipe=pit", "-S", "train.lr=null"]


def test_grid_errors_name_the_problem(tmp_path):
    bad = tmp_path / "g.yaml"
    bad.write_text("name: s\naxes: {a: {x: {train.recipe: cpt}}}\nseeds: {values: [0, 1], arms: [nope]}\n")
    with pytest.raises(UserError, match="nope"):
        expand(load_grid(bad))
    bad.write_text("axes: {a: {x: {}}}\ntypo: 1\n")
    with pytest.raises(UserError, match="typo"):
        load_grid(bad)
    with pytest.raises(UserError, match="not found"):
        load_grid(tmp_path / "missing.yaml")


def test_queue_status_parses_the_dvc_table():
    text = """Task     Name               Created    Status
753b005  quick-base-cpt-s0  04:01 PM   Success
1ae8b65  quick-base-pit-s0  04:01 PM   Running
0bbb118  quick-base-pit-s1  04:02 PM   Queued
9abc001  old-one            03:00 PM   Failed

Worker status: 1 active, 0 idle
"""
    assert queue_status(text) == {"quick-base-cpt-s0": "Success", "quick-base-pit-s0": "Running",
                                  "quick-base-pit-s1": "Queued", "old-one": "Failed"}


def _rows(values: dict[str, float]) -> dict[str, dict]:
    return {name: {"metrics": {"cpt.domain_qa_mc.acc": v, "cpt.domain_qa.em": 0.0, "forgetting.ppl_ratio": 1.2}}
            for name, v in values.items()}


def test_aggregate_reports_mean_and_sample_std_and_chance_rule():
    arms = [Arm("s-a", 0, ()), Arm("s-a", 1, ()), Arm("s-a", 2, ()), Arm("s-b", 0, ()), Arm("s-b", 1, ())]
    rows = _rows({"s-a-s0": 0.40, "s-a-s1": 0.42, "s-a-s2": 0.44, "s-b-s0": 0.20, "s-b-s1": 0.40})
    agg = aggregate(arms, rows)
    mean, sd = agg["s-a"]["cpt.domain_qa_mc.acc"]
    assert mean == pytest.approx(0.42) and sd == pytest.approx(0.02)
    assert agg["s-a"]["n"] == 3
    # s-a: 0.42 - 0.25 > 2 * 0.02; s-b: 0.30 - 0.25 < 2 * 0.141
    assert above_chance(agg) == ["s-a"]


def test_reading_separates_agreement_from_noise():
    arms = [Arm("s-a", i, ()) for i in range(3)] + [Arm("s-b", i, ()) for i in range(3)]
    rows = _rows({"s-a-s0": 0.30, "s-a-s1": 0.31, "s-a-s2": 0.29, "s-b-s0": 0.50, "s-b-s1": 0.51, "s-b-s2": 0.49})
    agg = aggregate(arms, rows)
    up = {"claim": "b beats a", "metric": "cpt.domain_qa_mc.acc", "a": "a", "b": "b"}
    down = {**up, "a": "b", "b": "a"}
    same = {**up, "metric": "forgetting.ppl_ratio"}
    missing = {**up, "b": "zzz"}
    lines = reading(agg, "s", [up, down, same, missing])
    assert "**agrees**" in lines[0] and "+0.200" in lines[0]
    assert "**disagrees**" in lines[1]
    assert "no difference beyond noise" in lines[2]
    assert "not measured" in lines[3]


def test_render_puts_paper_figures_beside_the_table():
    grid = load_grid(ROOT / "study/quick.yaml")
    arms = expand(grid)
    rows = _rows({"quick-base-cpt-s0": 0.3, "quick-base-pit-s0": 0.5, "quick-base-pit-s1": 0.52})
    md = render(aggregate(arms, rows), grid, "study/quick.yaml", [], 1.0, "study.png")
    assert "| base-pit | 2 | 0.000 ± 0.000 | 0.510 ± 0.014 |" in md
    assert "30.3" in md and "48.1" in md and "81.8" in md and "Scale:" in md
    assert "`base-pit`" in md  # above chance beyond 2x spread


def test_render_states_each_start_model_separately():
    grid = load_grid(ROOT / "study/grid.yaml")
    arms = [a for a in expand(grid) if a.name in ("study-base-cpt", "study-instruct-cpt") and a.seed == 0]
    start = {"base": (0.25, 7000.0, 0.0), "instruct": (0.29, 177000.0, 0.04)}
    rows = {}
    for a in arms:
        kind = dict(a.overrides)["model.kind"]
        mc, ppl, follow = start[kind]
        rows[a.exp_name] = {"metrics": {"cpt.domain_qa_mc.acc": 0.33, "absorption.mc_gain": 0.33 - mc,
                                        "start.domain_qa_mc.acc": mc, "start.domain_qa.em": 0.0,
                                        "start.replay.ppl": ppl, "start.instruct.follow": follow}}
    agg = aggregate(arms, rows)
    assert agg["study-instruct-cpt"]["start"] == "instruct"
    md = render(agg, grid, "study/grid.yaml", [], 2.0, "study.png", trained=0)
    assert "- `base`: held-out MC acc 0.250" in md and "replay ppl 7,000" in md
    assert "- `instruct`: held-out MC acc 0.290" in md and "replay ppl 177,000, instr. follow 0.040" in md
    assert "(0 runs trained" in md
    # the gain claim reads the instruct start's smaller gain as a disagreement
    gain = next(line for line in md.splitlines() if "gains more over its start (cpt)" in line)
    assert "-0.040" in gain and "**disagrees**" in gain

"""The sweep's pure parts: file checks, points, extra arms, front, recommendation, monotone fits, report."""

import itertools
import math
from pathlib import Path

import numpy as np
import pytest
import yaml

from cptpipe.errors import UserError
from cptpipe.runner import expand
from cptpipe.sweep import (
    Reading,
    as_grid,
    compare_to_best,
    crossing,
    load_sweep,
    monotone_fit,
    pareto_front,
    plot,
    point_name,
    read_sweep,
    recommend,
    render,
    sample_points,
    with_complements,
)

ROOT = Path(__file__).resolve().parents[1]
PARAMS = yaml.safe_load((ROOT / "params.yaml").read_text())


def _write(tmp_path, spec: dict) -> Path:
    path = tmp_path / "sweep.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


def test_shipped_sweep_is_the_full_grid_per_seed_at_one_budget():
    sweep = load_sweep(ROOT / "study/sweep.yaml", PARAMS)
    arms = expand(as_grid(sweep, PARAMS))
    spec = yaml.safe_load((ROOT / "study/sweep.yaml").read_text())
    n_points = math.prod(len(v) for v in spec["grid"].values())
    n_arms = n_points + len(spec.get("extra") or {})
    assert len(sweep.points) == n_points and len(arms) == n_arms * len(spec.get("seeds", [0]))
    assert {tuple(sorted(p.items())) for p in sweep.points} == {
        tuple(sorted(zip(spec["grid"], combo))) for combo in itertools.product(*spec["grid"].values())
    }
    for arm in arms:
        o = dict(arm.overrides)
        if arm.name.removeprefix(f"{sweep.prefix}-") not in sweep.extra:
            assert o["mix.replay"] in spec["grid"]["mix.replay"]  # the documents take what replay leaves
    assert "sweep-replay0.25-lr0.001-s1" in {a.exp_name for a in arms}
    assert all(dict(a.overrides)["mix.tokens"] == spec["common"]["mix.tokens"] for a in arms)  # one budget


def test_sweep_file_errors_name_every_problem(tmp_path):
    path = _write(
        tmp_path,
        {
            "grid": {"mix.replay": [0.1], "train.nope": [1]},
            "sample": {"n": 3},
            "axis": "train.lr",
            "max_forgetting": "low",
            "colour": 1,
            "name": "a b",
        },
    )
    with pytest.raises(UserError) as e:
        load_sweep(path, PARAMS)
    msg = str(e.value)
    for part in ("exactly one of `grid`", "unknown keys ['colour']", "max_forgetting='low'", "name='a b'"):
        assert part in msg, msg
    path = _write(tmp_path, {"grid": {"mix.replay": [0.1], "train.nope": [1]}, "axis": "train.lr"})
    with pytest.raises(UserError, match=r"no key 'train.nope'.*axis='train.lr' is not a swept key"):
        load_sweep(path, PARAMS)
    with pytest.raises(UserError, match="low < high"):
        load_sweep(_write(tmp_path, {"sample": {"ranges": {"train.lr": [0.01, 0.001]}}}), PARAMS)


def test_complement_keeps_shares_summing_to_one_and_refuses_negative():
    assert with_complements(
        {"mix.replay": 0.1}, {"mix.domain": ["mix.replay", "mix.instruct"]}, {"mix.instruct": 0.02}
    ) == {"mix.replay": 0.1, "mix.domain": 0.88}
    with pytest.raises(UserError, match="< 0"):
        with_complements({"mix.replay": 0.99}, {"mix.domain": ["mix.replay", "mix.instruct"]}, {"mix.instruct": 0.02})


def test_latin_hypercube_puts_one_point_in_each_stratum_and_is_seeded():
    points = sample_points({"mix.replay": [0.0, 0.2], "train.lr": [1e-4, 1e-2, "log"]}, 5, "lhs", seed=3)
    replay = sorted(int(p["mix.replay"] / 0.2 * 5) for p in points)
    lr = sorted(int((np.log10(p["train.lr"]) + 4) / 2 * 5) for p in points)
    assert replay == [0, 1, 2, 3, 4] and lr == [0, 1, 2, 3, 4]
    assert points == sample_points({"mix.replay": [0.0, 0.2], "train.lr": [1e-4, 1e-2, "log"]}, 5, "lhs", seed=3)
    assert points != sample_points({"mix.replay": [0.0, 0.2], "train.lr": [1e-4, 1e-2, "log"]}, 5, "lhs", seed=4)


def test_point_names_are_git_ref_safe():
    assert point_name({"mix.replay": 0.05, "train.lr": 0.001}) == "replay0.05-lr0.001"
    assert point_name({"train.schedule": "cosine w/ warmup"}) == "schedulecosine_w_warmup"


def test_front_excludes_every_dominated_point():
    pts = {"a": (1.1, 0.30), "b": (1.5, 0.40), "c": (1.6, 0.35), "d": (9.0, 0.45), "e": (1.1, 0.25)}
    assert pareto_front(pts) == ["a", "b", "d"]  # c: b forgets less and absorbs more; e: a ties x, beats y


def test_recommendation_is_the_most_absorbing_front_member_within_budget():
    pts = {"a": (1.1, 0.30), "b": (1.5, 0.40), "d": (9.0, 0.45)}
    front = pareto_front(pts)
    assert recommend(pts, front, 2.0) == "b"
    assert recommend(pts, front, None) == "d"
    assert recommend(pts, front, 1.0) is None


def test_monotone_fit_and_budget_crossing():
    xs = [0.0, 0.0, 0.05, 0.05, 0.1, 0.1]
    ys = [15.0, 13.0, 2.2, 1.8, 1.2, 1.1]
    grid, fitted, rms = monotone_fit(xs, ys)
    assert grid.tolist() == [0.0, 0.05, 0.1] and np.all(np.diff(fitted) <= 0)
    assert fitted.tolist() == pytest.approx([14.0, 2.0, 1.15]) and rms == pytest.approx(
        np.sqrt(np.mean([1, 1, 0.04, 0.04, 0.0025, 0.0025]))
    )
    assert crossing(grid, fitted, 1.5) == pytest.approx(0.05 + 0.05 * 0.5 / 0.85)
    assert crossing(grid, fitted, 20.0) == 0.0 and crossing(grid, fitted, 1.0) is None
    rising = np.array([1.2, 1.3, 1.7])  # forgetting along an LR axis
    assert crossing(np.array([0.1, 0.3, 1.0]), rising, 1.5) == pytest.approx(0.3 + 0.7 * 0.2 / 0.4)


def test_report_marks_front_and_recommendation_and_prints_apply(tmp_path):
    sweep = load_sweep(
        _write(tmp_path, {"name": "sw", "grid": {"mix.replay": [0.0, 0.1]}, "seeds": [0, 1], "max_forgetting": 2.0}),
        PARAMS,
    )
    stats = {
        "replay0": {"x": (14.0, 1.0), "y": (0.4, 0.02), "n": 2, "new": 2, "params": {"mix.replay": 0.0}},
        "replay0.1": {"x": (1.2, 0.05), "y": (0.35, 0.03), "n": 2, "new": 1, "params": {"mix.replay": 0.1}},
    }
    md = render(sweep, Reading(stats, ["replay0.1", "replay0"], "replay0.1"), "sweep.yaml", [], 3.0, "s.png", "")
    assert "| `replay0.1` | 0.1 | 2 | 1.200 ± 0.050 | 0.350 ± 0.030 | **recommended** | 1 |" in md
    assert "dvc exp apply sw-replay0.1-s0" in md and "3 of 4 runs trained in it, 1 reused" in md


def _with_extra(tmp_path, **spec):
    base = {"name": "sw", "grid": {"mix.replay": [0.0, 0.1]}, "seeds": [0, 1], "max_forgetting": 2.0}
    return load_sweep(_write(tmp_path, {**base, **spec}), PARAMS)


def test_extra_arms_run_per_seed_beside_the_grid(tmp_path):
    sweep = _with_extra(
        tmp_path,
        common={"train.save_every": 0},
        extra={"hold-out_2": {"mix.replay": 0.3, "train.lr": 0.002}, "alt": {"train.recipe": "mixed"}},
    )
    assert sweep.extra == {"hold-out_2": {"mix.replay": 0.3, "train.lr": 0.002}, "alt": {"train.recipe": "mixed"}}
    assert sweep.keys == ["mix.replay"]  # the table's columns and the fits stay the grid's
    arms = {a.exp_name: dict(a.overrides) for a in expand(as_grid(sweep, PARAMS))}
    assert len(arms) == (2 + 2) * 2
    assert arms["sw-hold-out_2-s1"] == {"train.save_every": 0, "mix.replay": 0.3, "train.lr": 0.002, "mix.seed": 1}
    assert arms["sw-alt-s0"] == {"train.save_every": 0, "train.recipe": "mixed", "mix.seed": 0}


def test_extra_arm_errors_name_every_problem(tmp_path):
    spec = {
        "name": "sw",
        "grid": {"mix.replay": [0.0, 0.1]},
        "extra": {"a b": {"mix.replay": 0.2}, "replay0": {"mix.replay": 0.2}, "ok": {"mix.nope": 1}, "empty": {}},
    }
    path = _write(tmp_path, spec)
    with pytest.raises(UserError) as e:
        load_sweep(path, PARAMS)
    msg = str(e.value)
    assert msg.startswith(str(path)), msg
    for part in (
        "extra.a b: the name must be letters, digits",
        "extra.replay0: the name is a grid point's",
        "extra.ok: params.yaml has no key 'mix.nope'",
        "extra.empty: give a non-empty",
    ):
        assert part in msg, msg


def _stat(x, y, params, n=2):
    return {"x": x, "y": y, "n": n, "new": n, "params": params}


def _extra_reading() -> Reading:
    stats = {
        "replay0": _stat((14.0, 1.0), (0.4, 0.02), {"mix.replay": 0.0}),
        "replay0.1": _stat((1.2, 0.05), (0.35, 0.03), {"mix.replay": 0.1}),
        "up": _stat((1.8, 0.1), (0.42, 0.02), {"train.lr": 0.002}),  # +0.07 > 0.03: better
        "flat": _stat((1.0, 0.1), (0.33, 0.01), {"train.lr": 0.0005}),  # -0.02 within 0.03
        "down": _stat((3.0, 0.2), (0.2, 0.01), {"train.lr": 0.01}),  # over budget, dominated by replay0.1
    }
    return Reading(stats, ["replay0.1", "replay0"], "replay0.1")


def test_extra_arms_are_compared_with_the_recommended_point_not_ranked(tmp_path):
    extra = {
        "up": {"train.lr": 0.002},
        "flat": {"train.lr": 0.0005},
        "down": {"train.lr": 0.01},
        "lost": {"train.lr": 1},
    }
    sweep = _with_extra(tmp_path, extra=extra)
    md = render(sweep, _extra_reading(), "sweep.yaml", [], 3.0, "s.png", "")
    assert "2 points and 4 extra arms × 2 seeds" in md
    assert "| `up` | · | 2 | 1.800 ± 0.100 | 0.420 ± 0.020 | extra | 2 |" in md
    assert "| `replay0.1` | 0.1 | 2 | 1.200 ± 0.050 | 0.350 ± 0.030 | **recommended** | 2 |" in md
    section = md.split("## Extra arms against the recommended point", 1)[1]
    lines = {line.split("`")[1]: line for line in section.splitlines() if line.startswith("- `")}
    assert "(within the budget 2)" in lines["up"] and "absorption +0.070 against `replay0.1`" in lines["up"]
    assert "**better**" in lines["up"] and "no front member dominates it" in lines["up"]
    assert "**within one seed spread**" in lines["flat"] and "-0.020" in lines["flat"]
    assert "(over the budget 2)" in lines["down"] and "**worse**" in lines["down"]
    assert "dominated by front `replay0.1`" in lines["down"]
    assert "not measured" in lines["lost"]
    plot(sweep, _extra_reading(), tmp_path / "s.png")  # stars beside the points draw without error
    assert (tmp_path / "s.png").stat().st_size > 5000


def test_extra_arms_without_a_recommendation_are_still_reported(tmp_path):
    sweep = _with_extra(tmp_path, extra={"up": {"train.lr": 0.002}})
    reading = _extra_reading()
    reading.best = None
    md = render(sweep, reading, "sweep.yaml", [], 3.0, "s.png", "")
    section = md.split("## Extra arms against the recommended point", 1)[1]
    assert "No recommended point" in section and "against" not in section.split("- `up`")[1].split("\n")[0]


def test_verdict_needs_a_difference_beyond_the_larger_seed_spread():
    best = {"y": (0.35, 0.03)}
    assert compare_to_best({"y": (0.37, 0.01)}, best) == (pytest.approx(0.02), 0.03, "within one seed spread")
    assert compare_to_best({"y": (0.39, 0.01)}, best)[2] == "better"
    assert compare_to_best({"y": (0.30, 0.06)}, best)[2] == "within one seed spread"  # the arm's own spread is larger
    assert compare_to_best({"y": (0.25, 0.01)}, best)[2] == "worse"
    assert compare_to_best({"y": (0.36, None)}, {"y": (0.35, None)}) == (pytest.approx(0.01), None, "better")


def test_read_keeps_extra_arms_off_the_front_and_the_recommendation(tmp_path):
    sweep = _with_extra(tmp_path, extra={"star": {"train.lr": 0.002}})
    grid = as_grid(sweep, PARAMS)
    arms = expand(grid)
    measured = {"replay0": (14.0, 0.4), "replay0.1": (1.2, 0.35), "star": (1.0, 0.9)}  # star beats both
    rows = {}
    for a in arms:
        x, y = measured[a.name.removeprefix("sw-")]
        rows[a.exp_name] = {"metrics": {sweep.forgetting: x + 0.01 * a.seed, sweep.absorption: y}}
    reading = read_sweep(sweep, grid, arms, rows, before=set())
    assert reading.stats["star"]["x"][0] == pytest.approx(1.005) and reading.stats["star"]["n"] == 2
    assert reading.front == ["replay0.1", "replay0"] and reading.best == "replay0.1"


def test_a_sweep_naming_an_unknown_metric_fails_at_load_listing_the_known_ones(tmp_path):
    f = tmp_path / "s.yaml"
    f.write_text("grid: {mix.replay: [0.0, 0.1]}\nabsorption: cpt.domain_qa.exact\nforgetting: forgetting.ppl\n")
    with pytest.raises(UserError) as err:
        load_sweep(f, PARAMS)
    msg = str(err.value)
    assert "absorption: unknown metric 'cpt.domain_qa.exact'" in msg and "forgetting: unknown metric" in msg
    assert "known metrics:" in msg and "forgetting.ppl_ratio" in msg


def test_the_shipped_sweep_files_name_known_metrics():
    for f in sorted((ROOT / "study").glob("*.yaml")):
        if not f.name.startswith("grid") and f.name != "quick.yaml":  # study grids: grid*.yaml
            load_sweep(f, PARAMS)

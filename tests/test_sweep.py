"""The sweep's pure parts: file checks, points, front, recommendation, monotone fits, report."""

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
    crossing,
    load_sweep,
    monotone_fit,
    pareto_front,
    point_name,
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
    assert len(sweep.points) == n_points and len(arms) == n_points * len(spec.get("seeds", [0]))
    assert {tuple(sorted(p.items())) for p in sweep.points} == {
        tuple(sorted(zip(spec["grid"], combo))) for combo in itertools.product(*spec["grid"].values())
    }
    for arm in arms:
        o = dict(arm.overrides)
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

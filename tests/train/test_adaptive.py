"""The adaptive replay controller on synthetic forgetting traces (no model: the plant is a formula)."""

import math
from itertools import groupby

import numpy as np
import pytest

from cptpipe.train.adaptive import ReplayController


def plant(log_ratio: float, share: float, pressure: float, rng, noise: float = 0.02) -> float:
    """One eval interval of forgetting: the domain share raises the log ppl ratio, replay pulls it
    back in proportion to how far it is; the measured ratio carries multiplicative noise."""
    return max(0.0, log_ratio + pressure * (1 - share) - share * log_ratio) + rng.normal(0, noise)


def run(ctrl: ReplayController | None, pressures, share=0.06, seed=0):
    """(ratios, shares) per eval; ctrl None keeps the share fixed."""
    rng = np.random.default_rng(seed)
    log_ratio, ratios, shares = 0.0, [], []
    for p in pressures:
        log_ratio = plant(log_ratio, share, p, rng)
        ratio = math.exp(log_ratio)
        share = ctrl.update(ratio) if ctrl else share
        ratios.append(ratio)
        shares.append(share)
    return np.array(ratios), np.array(shares)


def test_it_settles_under_the_budget_where_a_fixed_share_forgets_past_it():
    fixed, _ = run(None, [0.05] * 80)
    assert fixed[-20:].min() > 1.9  # 6% replay: this plant settles near x2.2
    ctrl = ReplayController(budget=1.5, low=0.02, high=0.5, share=0.06)
    ratios, shares = run(ctrl, [0.05] * 80)
    # the equilibrium share of the target budget ** 0.8: pressure (1 - s) / s = log target
    want = 0.05 / (0.05 + math.log(ctrl.target))
    assert abs(np.median(shares[-20:]) - want) < 0.2 * want
    assert ratios[-20:].max() <= 1.5 and np.median(ratios[-20:]) > 1.5**0.6


def test_shares_stay_within_the_bounds_and_an_unreachable_budget_pins_high():
    ctrl = ReplayController(budget=1.2, low=0.1, high=0.15, share=0.3)
    assert ctrl.share == 0.15  # a start outside the bounds is clipped
    ratios, shares = run(ctrl, [0.2] * 40)
    assert shares.min() >= 0.1 and shares.max() <= 0.15
    assert ctrl.pinned_high and ratios[-1] > 1.2
    easy = ReplayController(budget=3.0, low=0.1, high=0.15, share=0.12)
    _, shares = run(easy, [0.001] * 40)
    assert shares[-1] == 0.1 and not easy.pinned_high  # no forgetting: as little replay as allowed


def test_after_a_step_in_forgetting_pressure_the_budget_is_exceeded_only_briefly():
    pressures = [0.05] * 40 + [0.12] * 60  # a harder stretch of documents from eval 40 on
    fixed, _ = run(None, pressures, share=0.13)
    assert (fixed[50:] > 1.5).all()  # the share that held before does not hold after the step
    ctrl = ReplayController(budget=1.5, low=0.02, high=0.5, share=0.06)
    ratios, shares = run(ctrl, pressures)
    over = ratios[40:] > 1.5
    longest = max((len(list(run)) for is_over, run in groupby(over) if is_over), default=0)
    assert longest <= 4 and over[-30:].sum() == 0
    assert shares[-1] > shares[39] * 1.3  # it moved to more replay for the harder stretch


def test_a_restored_state_takes_the_same_steps():
    ratios = [1.1, 1.9, 2.4, 1.7, 1.3, 1.2, 1.45, 1.6]
    whole = ReplayController(budget=1.5, low=0.02, high=0.5, share=0.06)
    first = [whole.update(r) for r in ratios]
    part = ReplayController(budget=1.5, low=0.02, high=0.5, share=0.06)
    for r in ratios[:3]:
        part.update(r)
    resumed = ReplayController.from_state(part.state())
    assert [resumed.update(r) for r in ratios[3:]] == first[3:]
    assert resumed.history == whole.history


def test_a_diverged_eval_takes_as_much_replay_as_allowed():
    ctrl = ReplayController(budget=1.5, low=0.0, high=0.4, share=0.0)
    assert ctrl.update(float("nan")) == 0.4


def test_bad_settings_are_named_together():
    with pytest.raises(ValueError, match=r"budget must be a ratio above 1.*bounds must satisfy.*gain must be > 0"):
        ReplayController(budget=0.9, low=0.3, high=0.2, share=0.1, gain=0)

"""The adaptive replay controller on synthetic forgetting traces (no model: the plant is a formula)."""

import math
from itertools import groupby

import numpy as np
import pytest
from torch.utils.data import Dataset

from cptpipe.train.adaptive import AdaptivePools, ReplayController, perplexity_ratio


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


class Pool(Dataset):
    """A pool of numbered blocks: item j is (name, j), so a draw shows its source and its place."""

    def __init__(self, name: str, n: int):
        self.name, self.n = name, n

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, j: int):
        return self.name, j


def pools(n_slots=4000, replay=0.3, instruct=0.05, seed=0) -> AdaptivePools:
    sizes = {"domain": 5000, "replay": 2000, "instruct": 150}
    start = {"domain": 1 - replay - instruct, "replay": replay, "instruct": instruct}
    return AdaptivePools({k: Pool(k, n) for k, n in sizes.items()}, start, n_slots, seed)


def test_pools_draw_by_the_shares_and_take_each_pool_in_order():
    data = pools()
    first = [data[i] for i in range(2000)]
    data.set_replay_share(0.0, from_slot=2000)
    rest = [data[i] for i in range(2000, 4000)]
    share = lambda items, name: sum(n == name for n, _ in items) / len(items)  # noqa: E731
    assert abs(share(first, "replay") - 0.3) < 0.03 and abs(share(first, "instruct") - 0.05) < 0.015
    assert share(rest, "replay") == 0 and abs(share(rest, "domain") - 0.95) < 0.015
    for name, size in (("domain", 5000), ("replay", 2000), ("instruct", 150)):
        taken = [j for n, j in first + rest if n == name]
        assert taken == [k % size for k in range(len(taken))]  # the next unused block, never one twice
    # an exhausted pool (instruct: 150 blocks for ~200 draws) wraps around to its first block
    assert sum(n == "instruct" for n, _ in first + rest) > 150 and data.taken[2] > 150


def test_the_draw_is_a_function_of_seed_and_schedule_not_of_the_reading_order():
    a, b = pools(), pools()
    a.set_replay_share(0.1, from_slot=1000)
    seq = [a[i] for i in range(4000)]
    b.set_replay_share(0.1, from_slot=1000)
    jumbled = {i: b[i] for i in [3999, 17, 2500, 1200, *range(4000)]}  # a late slot first fills in order
    assert [jumbled[i] for i in range(4000)] == seq
    c = pools()
    c.schedule = [tuple(s) for s in a.schedule]  # what a checkpoint restores
    c.reset()
    assert [c[i] for i in range(4000)] == seq
    assert [pools(seed=1)[i] for i in range(200)] != seq[:200]


def test_a_share_change_never_rewrites_slots_already_read():
    data = pools()
    before = [data[i] for i in range(1500)]
    data.set_replay_share(0.45, from_slot=1000)  # asked for slots already read: applies after them
    assert data.schedule[-1] == (1500, 0.45)
    assert [data[i] for i in range(1500)] == before


def test_perplexity_ratio_is_the_word_level_ratio_of_token_losses():
    assert perplexity_ratio(2.0, 2.0, 1.4) == 1.0
    assert perplexity_ratio(2.1, 2.0, 1.0) == pytest.approx(math.exp(0.1))
    # the same token-loss rise is a larger word-perplexity ratio: tokens per word > 1
    assert perplexity_ratio(2.1, 2.0, 1.4) == pytest.approx(math.exp(0.14))

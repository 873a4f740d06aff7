"""Adaptive mixing: the replay share of a documents phase steered by measured forgetting.

At each eval the loop measures the held-out replay perplexity against the start model's (the ratio
the report and the sweep call forgetting) and the controller moves the replay share toward the
smallest one (the largest domain share) that keeps the ratio under `mix.forgetting_budget`.

The rule is integral control in log space: share *= exp(gain * (log r - log target) / log budget),
with target = budget ** headroom. Why this one:
- forgetting is multiplicative (a perplexity ratio) and useful replay shares span an order of
  magnitude (0.02 .. 0.5), so equal *relative* steps on both sides are the natural scale;
- the share integrates the error, so it settles where the ratio meets the target, without the
  steady-state offset a proportional rule (share = s0 + k * error) leaves;
- aiming at budget ** headroom (0.8: 1.38 for a budget of 1.5) leaves room for the eval's noise,
  and a ratio over the budget steps with twice the gain: forgetting past the budget costs more than
  a little less domain exposure.
The state is a few floats, so a checkpoint carries it and a resumed run takes the same steps.

The data side (`AdaptivePools`): the mix stage writes one pool of source-pure blocks per source;
slot k of the phase takes the next unused block of the pool that a fixed seeded uniform draw u[k]
picks under the shares in force at slot k. The blocks are thus a pure function of the seed and of
the share schedule, which is all a checkpoint has to keep.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field

import numpy as np
from torch.utils.data import Dataset

from cptpipe.metric_table import curve, role_key
from cptpipe.mix.plan import stream_shares

HEADROOM = 0.8  # aim at budget ** 0.8 in log space: under the budget by more than the eval's noise
OVER_GAIN = 2.0  # gain multiplier while the ratio is over the budget


@dataclass
class ReplayController:
    """The replay share under a forgetting budget; `update(ratio)` after each eval returns the new share."""

    budget: float  # replay perplexity ratio ceiling (cpt / start), > 1
    low: float  # bounds of the replay share, 0 <= low <= high < 1
    high: float
    share: float  # the current replay share, within the bounds
    gain: float = 1.0
    headroom: float = HEADROOM
    history: list[tuple[float, float]] = field(default_factory=list)  # (ratio, share after) per update

    def __post_init__(self) -> None:
        problems = []
        if not self.budget > 1:
            problems.append(f"budget must be a ratio above 1, got {self.budget:g}")
        if not 0 <= self.low <= self.high < 1:
            problems.append(f"bounds must satisfy 0 <= low <= high < 1, got [{self.low:g}, {self.high:g}]")
        if not self.gain > 0:
            problems.append(f"gain must be > 0, got {self.gain:g}")
        if problems:
            raise ValueError("; ".join(problems))
        self.share = min(max(self.share, self.low), self.high)

    @property
    def target(self) -> float:
        return self.budget**self.headroom

    def update(self, ratio: float) -> float:
        if not math.isfinite(ratio) or ratio <= 0:
            step = math.inf  # a diverged eval: as much replay as allowed
        else:
            gain = self.gain * (OVER_GAIN if ratio > self.budget else 1.0)
            step = gain * (math.log(ratio) - math.log(self.target)) / math.log(self.budget)
        # a share at 0 cannot grow by a factor: restart it from a floor of 1% of the phase
        base = max(self.share, 0.01)
        self.share = min(max(base * math.exp(min(step, 50.0)), self.low), self.high)
        self.history.append((float(ratio), self.share))
        return self.share

    @property
    def pinned_high(self) -> bool:
        """The last update wanted more replay than `high` allows: the budget is out of reach."""
        return bool(self.history) and self.share >= self.high and self.history[-1][0] > self.target

    def state(self) -> dict:
        """What a checkpoint stores; `ReplayController(**state)` restores it."""
        return {**asdict(self), "history": [list(h) for h in self.history]}

    @classmethod
    def from_state(cls, state: dict) -> ReplayController:
        return cls(**{**state, "history": [tuple(h) for h in state.get("history", [])]})


POOL_ORDER = ("domain", "replay", "instruct")  # the order shares are stacked in for the draw
RATIO = curve(role_key("forgetting"))  # the in-training curve of the forgetting ratio (metrics.yaml)
SHARE = "mix/replay_share"  # the curve of a documents phase's replay share


def perplexity_ratio(loss: float, start_loss: float, tokens_per_word: float) -> float:
    """The replay word-perplexity ratio (cpt / start) of two mean token losses on the same text.

    The report's forgetting ratio (metrics.yaml) is of lm-eval's word perplexity, exp(total NLL / words): the
    token-level ratio raised to tokens per word (~1.3-1.5), so a token ratio under the budget could
    be a word ratio over it.
    """
    return math.exp(min((loss - start_loss) * tokens_per_word, 50.0))


class AdaptivePools(Dataset):
    """The blocks of an adaptive documents phase, drawn slot by slot from per-source pools.

    `schedule` lists (first slot, replay share) per change; the instruction share stays as the mix
    stage set it and the domain takes the rest. Slots are assigned lazily in order: a change applies
    from the slot it names, which the loop sets at the end of a step (after every process has read
    its slots of that step), so every process assigns every slot alike.
    """

    def __init__(self, pools: Mapping[str, Dataset], start_shares: Mapping[str, float], n_slots: int, seed: int):
        self.names = [k for k in POOL_ORDER if k in pools]
        self.pools = [pools[k] for k in self.names]
        self.instruct = float(start_shares.get("instruct", 0.0))
        self.n = n_slots
        self.u = np.random.default_rng(seed).random(n_slots)
        self.schedule: list[tuple[int, float]] = [(0, float(start_shares["replay"]))]
        self.sizes = np.array([len(p) for p in self.pools], np.int64)
        self.reset()

    def reset(self) -> None:
        """Forget the assignment (it is refilled from the schedule on demand)."""
        self.source = np.full(self.n, -1, np.int8)
        self.block = np.zeros(self.n, np.int64)
        self.filled = 0
        self.taken = np.zeros(len(self.names), np.int64)

    def __len__(self) -> int:
        return self.n

    def cumulative(self, replay: float) -> np.ndarray:
        """Stacked shares of the present pools for the draw (a missing pool gets none)."""
        shares = stream_shares(replay, self.instruct)
        cum = np.cumsum([shares[k] for k in self.names])
        cum[-1] = np.inf  # rounding never leaves a draw without a pool
        return cum

    def fill(self, upto: int) -> None:
        """Assign slots [filled, upto) under the schedule."""
        upto = min(upto, self.n)
        for i, (first, replay) in enumerate(self.schedule):
            end = self.schedule[i + 1][0] if i + 1 < len(self.schedule) else self.n
            lo, hi = max(first, self.filled), min(end, upto)
            if lo >= hi:
                continue
            codes = np.searchsorted(self.cumulative(replay), self.u[lo:hi], side="right")
            self.source[lo:hi] = codes
            for c in range(len(self.names)):
                mine = np.flatnonzero(codes == c)
                self.block[lo + mine] = self.taken[c] + np.arange(len(mine))
                self.taken[c] += len(mine)
            self.filled = hi

    def set_replay_share(self, share: float, from_slot: int) -> None:
        """Slots from `from_slot` on (at least those not yet assigned) draw with this replay share."""
        self.fill(from_slot)
        first = max(from_slot, self.filled)
        if first < self.n:
            self.schedule.append((first, float(share)))

    def __getitem__(self, i: int):
        if i >= self.filled:
            self.fill(i + 1)
        c = int(self.source[i])
        return self.pools[c][int(self.block[i] % self.sizes[c])]

    def realised(self, items: int) -> dict[str, dict]:
        """Blocks and tokens per source in the first `items` slots the loop read (wrapping as it does)."""
        self.fill(min(items, self.n))
        slots = np.arange(items) % self.n
        out = {}
        for c, name in enumerate(self.names):
            blocks = self.block[slots[self.source[slots] == c]] % self.sizes[c]
            tokens = int(block_tokens(self.pools[c])[blocks].sum())
            out[name] = {
                "blocks": int(len(blocks)),
                "tokens": tokens,
                "wrapped": int(max(0, self.taken[c] - self.sizes[c])),
            }
        return out


def block_tokens(pool) -> np.ndarray:
    """Tokens in each block of a MixBlocks pool (its segments' lengths summed)."""
    lengths = np.asarray(pool.length, np.int64)
    return np.add.reduceat(lengths, pool.bounds[:-1]) if len(lengths) else np.zeros(len(pool), np.int64)


class FixedShare:
    """A fixed-schedule documents phase's replay share, logged at each eval beside the adaptive ones."""

    def __init__(self, share: float):
        self.share = round(share, 6)

    def update(self, values: Mapping[str, float], items: int) -> dict[str, float]:
        return {SHARE: self.share}

    def state(self) -> dict:
        return {}

    def restore(self, state: Mapping) -> None:
        pass


class ReplaySteering:
    """One adaptive phase's feedback loop: each eval's forgetting ratio (RATIO, the replay loss against
    the start model's) gives the controller the next replay share, and the pools draw with it from
    the next step on.

    `slots` maps the items the loop has read of the phase's dataset to slots of the pools (the
    identity, or the document stream's share of an Interleaved phase).
    """

    def __init__(self, pools: AdaptivePools, controller: ReplayController, slots: Callable[[int], int] = lambda n: n):
        self.pools, self.controller, self.slots = pools, controller, slots

    def update(self, values: Mapping[str, float], items: int) -> dict[str, float]:
        share = self.controller.update(values[RATIO])
        self.pools.set_replay_share(share, self.slots(items))
        return {SHARE: round(share, 6)}

    def state(self) -> dict:
        return {"controller": self.controller.state(), "schedule": [list(s) for s in self.pools.schedule]}

    def restore(self, state: Mapping) -> None:
        self.controller = ReplayController.from_state(state["controller"])
        self.pools.schedule = [(int(a), float(b)) for a, b in state["schedule"]]
        self.pools.reset()

    def describe(self, items: int) -> dict:
        """What summary.json records: the controller's settings and path, and what the phase drew."""
        c = self.controller
        realised = self.pools.realised(self.slots(items))
        total = sum(v["tokens"] for v in realised.values())
        for v in realised.values():
            v["share"] = round(v["tokens"] / total, 6) if total else 0.0
        return {
            "forgetting_budget": c.budget,
            "replay_bounds": [c.low, c.high],
            "target": round(c.target, 6),
            "start_share": self.pools.schedule[0][1],
            "final_share": round(c.share, 6),
            "pinned_high": c.pinned_high,
            "updates": [{"ratio": round(r, 6), "share": round(s, 6)} for r, s in c.history],
            "realised": realised,
        }

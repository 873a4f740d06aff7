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
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

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

"""Learning-rate schedules: warmup then decay to a floor, re-warmed at every phase start.

Re-warming follows Ibrahim et al. 2024 (arXiv 2403.08763): when new data starts, warm the LR up
again rather than continuing a decayed schedule.
"""

from __future__ import annotations

import math


def lr_at(step: int, total: int, *, lr: float, warmup: float, schedule: str, min_lr_ratio: float) -> float:
    """LR at `step` (0-based) of a phase of `total` steps."""
    total = max(total, 1)
    warm = int(round(warmup * total))
    if warm > 0 and step < warm:
        return lr * (step + 1) / warm
    if schedule == "constant":
        return lr
    progress = min(1.0, (step - warm) / max(1, total - warm - 1))  # the last step reaches the floor
    floor = lr * min_lr_ratio
    if schedule == "linear":
        return floor + (lr - floor) * (1.0 - progress)
    return floor + (lr - floor) * 0.5 * (1.0 + math.cos(math.pi * progress))

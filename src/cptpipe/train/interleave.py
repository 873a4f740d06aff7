"""Two block streams of one phase (documents, one-pair QA blocks) interleaved micro-batch by micro-batch."""

from __future__ import annotations

import math

import numpy as np
from torch.utils.data import Dataset


def interleave_pattern(n_a: int, n_b: int) -> np.ndarray:
    """Which of n_a + n_b slots belong to stream b, spread as evenly as possible (Bresenham): every
    window of the phase has b's share of slots, so neither stream is left to the end."""
    total = n_a + n_b
    if total == 0:
        return np.zeros(0, bool)
    edges = np.floor(np.arange(total + 1) * n_b / total).astype(np.int64)
    return np.diff(edges) > 0


class Interleaved(Dataset):
    """Items of `a` and `b` such that every run of `unit` consecutive items (one micro-batch, as the
    training loop reads them) comes from one stream: blocks of different lengths never meet in a
    batch, and each micro-batch's loss is entirely its stream's. Micro-batch m is from b when
    pattern[m]; each stream is read in order and wraps around."""

    def __init__(self, a: Dataset, b: Dataset, unit: int):
        self.a, self.b, self.unit = a, b, unit
        n_a, n_b = math.ceil(len(a) / unit), math.ceil(len(b) / unit)
        self.from_b = interleave_pattern(n_a, n_b)
        self.rank = np.where(self.from_b, np.cumsum(self.from_b) - 1, np.cumsum(~self.from_b) - 1)

    def __len__(self) -> int:
        return len(self.from_b) * self.unit

    def __getitem__(self, i: int):
        m, r = divmod(i, self.unit)
        m %= len(self.from_b)
        src = self.b if self.from_b[m] else self.a
        return src[(int(self.rank[m]) * self.unit + r) % len(src)]

    def a_items(self, items: int) -> int:
        """How many items of `a` the first `items` items read (as the loop reads them: whole micro-batches)."""
        micro = items // self.unit
        cycles, rest = divmod(micro, len(self.from_b))
        return (cycles * int((~self.from_b).sum()) + int((~self.from_b[:rest]).sum())) * self.unit

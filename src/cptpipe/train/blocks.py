"""What the loop reads: datasets of token blocks and the micro-batch at a step.

The data order is a pure function of the global step (micro-batch j of a phase on process r is
blocks [(j*world + r)*batch, ...) of the phase, wrapping around), so a resumed run sees exactly the
batches an uninterrupted one would have seen.
"""

from __future__ import annotations

import torch
from torch.utils.data import Dataset, default_collate


class ArrayBlocks(Dataset):
    """Blocks [n, seq_len] of token ids where every token carries loss (plain LM pretraining)."""

    def __init__(self, blocks):
        self.blocks = torch.as_tensor(blocks, dtype=torch.long)

    def __len__(self) -> int:
        return len(self.blocks)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        ids = self.blocks[i]
        return {"input_ids": ids, "labels": ids.clone()}


def batch_at(data: Dataset, index: int, size: int) -> dict[str, torch.Tensor]:
    """Micro-batch number `index` of a phase: `size` consecutive blocks, wrapping around."""
    n = len(data)
    return trim_padding(default_collate([data[(index * size + i) % n] for i in range(size)]))


def trim_padding(batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Drop the columns after the last loss-carrying token of the batch.

    Rows are right-padded and attention is causal, so those columns change neither the loss nor the
    gradients; QA phases hold one short pair per block padded to the phase's longest pair, and most
    of their compute would be padding.
    """
    carries = (batch["labels"] != -100).any(0).nonzero()
    if not len(carries):
        return batch
    n = int(carries[-1]) + 1
    if n == batch["labels"].shape[1]:
        return batch
    out = {k: v[:, :n] for k, v in batch.items() if k != "attention_mask"}
    if "attention_mask" in batch:
        mask = batch["attention_mask"]
        out["attention_mask"] = mask[..., :n, :n] if mask.dim() == 4 else mask[:, :n]
    return out

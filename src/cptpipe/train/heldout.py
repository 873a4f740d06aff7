"""Held-out evaluation during training: mean LM loss per held-out set (eval/<set>_loss) and probe values."""

from __future__ import annotations

from collections.abc import Callable, Mapping

import torch
from torch.utils.data import Dataset, default_collate


@torch.no_grad()
def held_out_losses(model, eval_sets: Mapping[str, Dataset], batch_size: int, device) -> dict[str, float]:
    """Mean LM loss per held-out set (every process computes the same numbers)."""
    was_training = model.training
    model.eval()
    out = {}
    for name, data in eval_sets.items():
        losses = []
        for i in range(0, len(data), batch_size):
            batch = default_collate([data[j] for j in range(i, min(len(data), i + batch_size))])
            losses.append(model(**{k: v.to(device) for k, v in batch.items()}).loss.float())
        out[f"eval/{name}_loss"] = round(torch.stack(losses).mean().item(), 6) if losses else float("nan")
    model.train(was_training)
    return out


def evaluate(
    model,
    eval_sets: Mapping[str, Dataset],
    probes: Mapping[str, Callable[[torch.nn.Module], float]],
    batch_size: int,
    device,
) -> dict[str, float]:
    """Held-out losses (eval/<set>_loss), then each probe's number (eval/<name>)."""
    out = held_out_losses(model, eval_sets, batch_size, device)
    for name, probe in probes.items():
        out[f"eval/{name}"] = round(float(probe(model)), 6)
    return out

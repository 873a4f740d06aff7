"""Elastic weight consolidation (Kirkpatrick et al. 2017): a diagonal-Fisher pull toward the start weights."""

from __future__ import annotations

import time

import torch


def fisher_diagonal(model: torch.nn.Module, batches) -> dict[str, torch.Tensor]:
    """Mean squared gradient of the LM loss per trainable parameter, over `batches` of the start model."""
    fisher = {n: torch.zeros_like(p) for n, p in model.named_parameters() if p.requires_grad}
    model.train()
    n = 0
    for batch in batches:
        model.zero_grad(set_to_none=True)
        model(**batch).loss.backward()
        for name, p in model.named_parameters():
            if p.grad is not None:
                fisher[name] += p.grad.detach() ** 2
        n += 1
    model.zero_grad(set_to_none=True)
    return {k: v / max(n, 1) for k, v in fisher.items()}


class EWCPenalty:
    """lambda/2 * sum_i F_i (theta_i - theta*_i)^2; zero at the start weights, grows with drift."""

    def __init__(self, model: torch.nn.Module, batches, lam: float):
        t0 = time.time()
        self.lam = lam
        self.fisher = fisher_diagonal(model, batches)
        self.anchor = {n: p.detach().clone() for n, p in model.named_parameters() if n in self.fisher}
        self.seconds = round(time.time() - t0, 2)

    def __call__(self, model: torch.nn.Module) -> torch.Tensor:
        total = None
        for name, p in model.named_parameters():
            if name in self.fisher:
                term = (self.fisher[name].to(p.device) * (p - self.anchor[name].to(p.device)) ** 2).sum()
                total = term if total is None else total + term
        return 0.5 * self.lam * total

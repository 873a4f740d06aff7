"""Elastic weight consolidation (Kirkpatrick et al. 2017): a diagonal-Fisher pull toward the start weights."""

from __future__ import annotations

import time

import torch

PEFT_PREFIX = "base_model.model."


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


def _plain_name(name: str) -> str:
    """A parameter's name in the start model, also when peft wrapped it (LoRA)."""
    return name.removeprefix(PEFT_PREFIX).replace(".base_layer.", ".")


class EWCPenalty:
    """lambda/2 * sum_i F_i (theta_i - theta*_i)^2; zero at the start weights, grows with drift.

    Under LoRA the drift of a wrapped weight is its adapter's delta (B @ A * scale), so the penalty
    acts on what the merged checkpoint will really change.
    """

    def __init__(self, model: torch.nn.Module, batches, lam: float):
        t0 = time.time()
        self.lam = lam
        self.fisher = fisher_diagonal(model, batches)
        self.anchor = {n: p.detach().clone() for n, p in model.named_parameters() if n in self.fisher}
        self.seconds = round(time.time() - t0, 2)

    def _on(self, device: torch.device) -> None:
        """Move Fisher and anchor to the training device once, not on every step."""
        if next(iter(self.fisher.values())).device != device:
            self.fisher = {k: v.to(device) for k, v in self.fisher.items()}
            self.anchor = {k: v.to(device) for k, v in self.anchor.items()}

    def __call__(self, model: torch.nn.Module) -> torch.Tensor:
        terms = []
        for name, p in model.named_parameters():
            key = _plain_name(name)
            if p.requires_grad and key in self.fisher:
                self._on(p.device)
                terms.append((self.fisher[key] * (p - self.anchor[key]) ** 2).sum())
        for name, module in model.named_modules():
            key = _plain_name(name) + ".weight"
            if hasattr(module, "get_delta_weight") and key in self.fisher:
                for adapter in getattr(module, "active_adapters", []):
                    if adapter in module.lora_A:
                        delta = module.get_delta_weight(adapter)
                        self._on(delta.device)
                        terms.append((self.fisher[key] * delta**2).sum())
        if not terms:
            raise ValueError("EWC: no trainable parameter of the model matches the Fisher estimate")
        return 0.5 * self.lam * torch.stack(terms).sum()

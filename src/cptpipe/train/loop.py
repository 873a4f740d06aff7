"""One training loop for every phase of every recipe (and for scratch pretraining), under accelerate."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import torch
from torch.utils.data import DataLoader, Dataset
from cptpipe.progress import bar

from cptpipe.train.schedule import lr_at


class ArrayBlocks(Dataset):
    """Blocks [n, seq_len] of token ids where every token carries loss (plain LM pretraining)."""

    def __init__(self, blocks):
        self.blocks = torch.as_tensor(blocks, dtype=torch.long)

    def __len__(self) -> int:
        return len(self.blocks)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        ids = self.blocks[i]
        return {"input_ids": ids, "labels": ids.clone()}


@dataclass
class Phase:
    name: str
    data: Dataset
    steps: int
    lr: float


@dataclass
class LoopConfig:
    batch_size: int
    grad_accum: int = 1
    warmup: float = 0.05
    schedule: str = "cosine"
    min_lr_ratio: float = 0.1
    precision: str = "auto"
    seed: int = 0
    log_every: int = 10
    max_grad_norm: float = 1.0
    weight_decay: float = 0.1


@dataclass
class LoopResult:
    steps: int = 0
    tokens: int = 0
    seconds: float = 0.0
    final_loss: float = float("nan")
    phases: list[dict] = field(default_factory=list)


def resolve_precision(precision: str) -> str:
    """accelerate's mixed_precision: bf16 on GPUs that support it under "auto", fp32 on CPU."""
    if precision == "auto":
        return "bf16" if torch.cuda.is_available() and torch.cuda.is_bf16_supported() else "no"
    return {"fp32": "no"}.get(precision, precision)


def _cycle(loader):
    while True:
        yield from loader


def train_phases(
    model: torch.nn.Module,
    phases: Sequence[Phase],
    cfg: LoopConfig,
    *,
    log: Callable[[dict[str, Any]], None] | None = None,
    penalty: Callable[[torch.nn.Module], torch.Tensor] | None = None,
    desc: str = "train",
) -> LoopResult:
    """Train through phases in order; each phase re-warms the LR and runs `steps` optimizer steps."""
    from accelerate import Accelerator
    from accelerate.utils import set_seed

    set_seed(cfg.seed)
    accelerator = Accelerator(
        mixed_precision=resolve_precision(cfg.precision),
        gradient_accumulation_steps=cfg.grad_accum,
        cpu=not torch.cuda.is_available(),
    )
    decay = [p for n, p in model.named_parameters() if p.requires_grad and p.ndim >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.requires_grad and p.ndim < 2]
    opt = torch.optim.AdamW(
        [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
        lr=phases[0].lr if phases else 1e-4, betas=(0.9, 0.95), eps=1e-8,
    )
    model, opt = accelerator.prepare(model, opt)
    model.train()
    result = LoopResult()
    t0 = time.time()
    gen = torch.Generator().manual_seed(cfg.seed)
    total_steps = sum(p.steps for p in phases)
    pbar = bar(total=total_steps, desc=desc, unit="step", disable=not accelerator.is_local_main_process)
    for phase in phases:
        start_step = result.steps
        loader = accelerator.prepare(DataLoader(phase.data, batch_size=cfg.batch_size, shuffle=False,
                                                generator=gen, drop_last=False))
        batches = _cycle(loader)
        running = 0.0
        for step in range(phase.steps):
            lr = lr_at(step, phase.steps, lr=phase.lr, warmup=cfg.warmup, schedule=cfg.schedule,
                       min_lr_ratio=cfg.min_lr_ratio)
            for g in opt.param_groups:
                g["lr"] = lr
            loss_sum, tokens, grad_norm = 0.0, 0, None
            for _ in range(cfg.grad_accum):
                batch = next(batches)
                with accelerator.accumulate(model):
                    out = model(**batch)
                    loss = out.loss
                    if penalty is not None:
                        loss = loss + penalty(accelerator.unwrap_model(model))
                    accelerator.backward(loss)
                    if accelerator.sync_gradients:
                        grad_norm = accelerator.clip_grad_norm_(model.parameters(), cfg.max_grad_norm)
                    opt.step()
                    opt.zero_grad(set_to_none=True)
                loss_sum += out.loss.detach().float().item()
                tokens += int((batch["labels"] != -100).sum().item())
            loss_val = loss_sum / cfg.grad_accum
            if not math.isfinite(loss_val):
                raise FloatingPointError(f"loss became {loss_val} at step {result.steps} of phase {phase.name}; "
                                         "lower train.lr or use train.precision: fp32")
            tokens = int(accelerator.gather(torch.tensor([tokens], device=accelerator.device)).sum().item())
            result.steps += 1
            result.tokens += tokens
            running = loss_val if step == 0 else 0.9 * running + 0.1 * loss_val
            elapsed = time.time() - t0
            pbar.update(1)
            pbar.set_postfix(phase=phase.name, loss=f"{running:.3f}", tok_s=f"{result.tokens / max(elapsed, 1e-9):.0f}")
            if log is not None and (result.steps % cfg.log_every == 0 or step == phase.steps - 1):
                log({"step": result.steps, "phase": phase.name, "loss": loss_val, "lr": lr,
                     "tokens": result.tokens, "grad_norm": float(grad_norm) if grad_norm is not None else float("nan")})
            result.final_loss = loss_val
        result.phases.append({"name": phase.name, "first_step": start_step + 1, "last_step": result.steps,
                              "steps": phase.steps, "lr": phase.lr, "blocks": len(phase.data)})
    pbar.close()
    result.seconds = round(time.time() - t0, 2)
    accelerator.wait_for_everyone()
    model = accelerator.unwrap_model(model)
    model.eval()
    return result

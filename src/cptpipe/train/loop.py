"""One training loop for every phase of every recipe, under accelerate.

The scratch start model is pretrained by model/pretrain.py instead, so the `model` stage does not
depend on this file.

The data order is a pure function of the global step (micro-batch j of a phase on process r is
blocks [(j*world + r)*batch, ...) of the phase, wrapping around), so a resumed run sees exactly the
batches an uninterrupted one would have seen.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import Dataset, default_collate

from cptpipe.progress import bar
from cptpipe.train import checkpoint
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
    batch_size: int  # sequences per micro-batch per process
    grad_accum: int = 1
    warmup: float = 0.05
    schedule: str = "cosine"
    min_lr_ratio: float = 0.1
    precision: str = "auto"
    seed: int = 0
    log_every: int = 10
    max_grad_norm: float = 1.0
    weight_decay: float = 0.1
    eval_every: int = 0  # steps between held-out losses (eval_sets) and probes; 0: only at the end
    save_every: int = 0  # steps between resumable checkpoints in ckpt_dir; 0: none
    ckpt_dir: Path | None = None
    gradient_checkpointing: bool = False  # recompute activations in backward: less memory, ~30% slower
    compile: bool = False  # torch.compile (inductor): faster steps after a compile of tens of seconds


@dataclass
class LoopResult:
    steps: int = 0
    tokens: int = 0
    seconds: float = 0.0
    final_loss: float = float("nan")
    phases: list[dict] = field(default_factory=list)
    eval: dict[str, float] = field(default_factory=dict)  # last held-out losses and probe values
    resumed_from: int = 0  # global step restored from a checkpoint; 0 = fresh start
    world_size: int = 1


def resolve_precision(precision: str) -> str:
    """accelerate's mixed_precision: bf16 on GPUs that support it under "auto", fp32 on CPU."""
    if precision == "auto":
        return "bf16" if torch.cuda.is_available() and torch.cuda.is_bf16_supported() else "no"
    return {"fp32": "no"}.get(precision, precision)


def process_state():
    """accelerate's process state (rank, world) as the loop's Accelerator will see it."""
    from accelerate import PartialState

    return PartialState(cpu=not torch.cuda.is_available())


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


def _prepare_model(model: torch.nn.Module, cfg: LoopConfig) -> None:
    if not cfg.gradient_checkpointing:
        return
    kwargs = {"use_reentrant": False}  # the reentrant variant needs inputs that require grad (breaks LoRA)
    if hasattr(model, "activation_checkpointing_enable"):  # transformers >= 5.2x name
        model.activation_checkpointing_enable(activation_checkpointing_kwargs=kwargs)
    elif hasattr(model, "gradient_checkpointing_enable"):
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs=kwargs)
    if hasattr(model, "config"):
        model.config.use_cache = False


def _optimizer(model: torch.nn.Module, cfg: LoopConfig, lr: float) -> torch.optim.Optimizer:
    decay = [p for p in model.parameters() if p.requires_grad and p.ndim >= 2]
    no_decay = [p for p in model.parameters() if p.requires_grad and p.ndim < 2]
    return torch.optim.AdamW(
        [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
        lr=lr,
        betas=(0.9, 0.95),
        eps=1e-8,
        fused=True,  # one kernel per step (CPU and CUDA)
    )


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


def train_phases(
    model: torch.nn.Module,
    phases: Sequence[Phase],
    cfg: LoopConfig,
    *,
    log: Callable[[dict[str, Any]], None] | None = None,
    penalty: Callable[[torch.nn.Module], torch.Tensor] | None = None,
    eval_sets: Mapping[str, Dataset] | None = None,
    probes: Mapping[str, Callable[[torch.nn.Module], float]] | None = None,
    desc: str = "train",
) -> LoopResult:
    """Train through phases in order; each phase re-warms the LR and runs `steps` optimizer steps.

    `log` receives curve points on the main process only (on resume, the points before the
    checkpoint are replayed first, so curves continue). Resumes from the newest checkpoint in
    `cfg.ckpt_dir` when there is one. `probes` (name -> fn(model) -> number, e.g. exact match of
    greedy answers) run beside the held-out losses on every process, so the forward passes of a
    sharded model stay in step; they are logged as eval/<name>.
    """
    from accelerate import Accelerator
    from accelerate.utils import set_seed

    accelerator = Accelerator(
        mixed_precision=resolve_precision(cfg.precision),
        gradient_accumulation_steps=cfg.grad_accum,
        cpu=not torch.cuda.is_available(),
        dynamo_backend="inductor" if cfg.compile else None,
    )
    set_seed(cfg.seed)
    raw = model  # the plain module (what `penalty` and the caller see); prepare wraps it
    _prepare_model(model, cfg)
    opt = _optimizer(model, cfg, phases[0].lr if phases else 1e-4)
    model, opt = accelerator.prepare(model, opt)
    model.train()
    world, rank, device = accelerator.num_processes, accelerator.process_index, accelerator.device
    main = accelerator.is_main_process
    emit = log if (log is not None and main) else (lambda point: None)
    res = LoopResult(world_size=world)
    history: list[dict] = []
    seconds_before, phase_tokens0 = 0.0, 0
    saving = cfg.ckpt_dir is not None and cfg.save_every > 0
    found = checkpoint.latest(cfg.ckpt_dir) if saving else None
    if found is not None:
        state = checkpoint.load(accelerator, found)
        if state["world_size"] != world:
            raise RuntimeError(
                f"{found} was written by {state['world_size']} processes, this run has {world}; "
                f"delete {cfg.ckpt_dir} to start over"
            )
        res.steps = res.resumed_from = state["step"]
        res.tokens, res.phases, history = state["tokens"], state["phases"], state["history"]
        seconds_before, phase_tokens0 = state["seconds"], state["phase_tokens0"]
        accelerator.print(f"{desc}: resuming from step {res.steps} ({found})")
        for point in history:
            emit(point)
    total_steps = sum(p.steps for p in phases)
    pbar = bar(
        total=total_steps, initial=res.steps, desc=desc, unit="step", disable=not accelerator.is_local_main_process
    )
    t0, tokens_t0 = time.time(), res.tokens
    pending_tokens, grad_norm, running = 0, None, float("nan")
    global_step = 0
    for phase in phases:
        if global_step + phase.steps <= res.steps:  # finished before the checkpoint
            global_step += phase.steps
            continue
        first_step = global_step + 1
        if global_step >= res.steps:
            phase_tokens0 = res.tokens
        for step in range(phase.steps):
            global_step += 1
            if global_step <= res.steps:  # the data position is a function of the step: just skip
                continue
            lr = lr_at(
                step, phase.steps, lr=phase.lr, warmup=cfg.warmup, schedule=cfg.schedule, min_lr_ratio=cfg.min_lr_ratio
            )
            for g in opt.param_groups:
                g["lr"] = lr
            loss_sum = torch.zeros((), device=device)
            for micro in range(cfg.grad_accum):
                batch = batch_at(phase.data, (step * cfg.grad_accum + micro) * world + rank, cfg.batch_size)
                pending_tokens += int((batch["labels"] != -100).sum())  # counted on CPU: no device sync
                batch = {k: v.to(device, non_blocking=True) for k, v in batch.items()}
                with accelerator.accumulate(model):
                    out = model(**batch)
                    loss = out.loss if penalty is None else out.loss + penalty(raw)
                    accelerator.backward(loss)
                    if accelerator.sync_gradients:
                        grad_norm = accelerator.clip_grad_norm_(model.parameters(), cfg.max_grad_norm)
                    opt.step()
                    opt.zero_grad(set_to_none=True)
                loss_sum += out.loss.detach().float()
            res.steps = global_step
            pbar.update(1)
            last = step == phase.steps - 1
            evaluating = bool(eval_sets or probes) and (
                (cfg.eval_every > 0 and global_step % cfg.eval_every == 0) or global_step == total_steps
            )
            save = saving and global_step % cfg.save_every == 0 and global_step < total_steps
            if not (last or evaluating or save or global_step % cfg.log_every == 0):
                continue
            # sync point: the only .item() / collectives of the loop
            loss_val = accelerator.reduce(loss_sum / cfg.grad_accum, "mean").item()
            res.tokens += int(accelerator.reduce(torch.tensor(pending_tokens, device=device), "sum").item())
            pending_tokens = 0
            if not math.isfinite(loss_val):
                raise FloatingPointError(
                    f"loss became {loss_val} at step {global_step} of phase {phase.name}; "
                    "lower train.lr or use train.precision: fp32"
                )
            res.final_loss = loss_val
            running = loss_val if not math.isfinite(running) else 0.7 * running + 0.3 * loss_val
            elapsed = time.time() - t0
            pbar.set_postfix(
                phase=phase.name,
                loss=f"{running:.3f}",
                tok_s=f"{(res.tokens - tokens_t0) / max(elapsed, 1e-9):.0f}",
                refresh=False,
            )
            point = {
                "step": global_step,
                "phase": phase.name,
                "loss": loss_val,
                "lr": lr,
                "tokens": res.tokens,
                "grad_norm": float(grad_norm) if grad_norm is not None else float("nan"),
            }
            if evaluating:
                res.eval = evaluate(model, eval_sets or {}, probes or {}, cfg.batch_size, device)
                point.update(res.eval)
            history.append(point)
            emit(point)
            if last:
                res.phases.append(
                    {
                        "name": phase.name,
                        "first_step": first_step,
                        "last_step": global_step,
                        "steps": phase.steps,
                        "lr": phase.lr,
                        "blocks": len(phase.data),
                        "tokens": res.tokens - phase_tokens0,
                    }
                )
            if save:
                checkpoint.save(
                    accelerator,
                    cfg.ckpt_dir,
                    {
                        "step": global_step,
                        "tokens": res.tokens,
                        "phases": res.phases,
                        "history": history,
                        "seconds": round(seconds_before + time.time() - t0, 2),
                        "phase_tokens0": phase_tokens0,
                        "world_size": world,
                    },
                )
    pbar.close()
    res.seconds = round(seconds_before + time.time() - t0, 2)
    accelerator.wait_for_everyone()
    raw.eval()
    return res

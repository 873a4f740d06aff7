"""One training loop for every phase of every recipe, under accelerate.

The scratch start model is pretrained by model/pretrain.py instead, so the `model` stage does not
depend on this file.

Its data (token blocks, the micro-batch of a step) is train/blocks.py; its held-out evaluation
train/heldout.py; the optimizer's constants cptpipe.optim.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Protocol

import torch
from torch.utils.data import Dataset

from cptpipe.determinism import deterministic_torch
from cptpipe.optim import BETAS, EPS, MAX_GRAD_NORM, WEIGHT_DECAY
from cptpipe.params import TrainParams
from cptpipe.progress import bar
from cptpipe.train import checkpoint
from cptpipe.train.blocks import batch_at
from cptpipe.train.heldout import evaluate, held_out_losses
from cptpipe.train.schedule import lr_at


class Steering(Protocol):
    """Feedback from the evals into a phase's data (cptpipe.train.adaptive.ReplaySteering)."""

    def update(self, values: Mapping[str, float], items: int) -> dict[str, float]:
        """An eval's values (with those `against_start` derived), after the phase read `items` items on
        all processes -> extra curve values."""
        ...

    def state(self) -> dict: ...

    def restore(self, state: Mapping) -> None: ...


@dataclass
class Phase:
    name: str
    data: Dataset
    steps: int
    lr: float  # peak LR of the phase (re-warmed at its start)
    warmup: float | None = None  # share of the phase's steps warming up; None: LoopConfig.warmup
    decay: str | None = None  # cosine | linear | constant; None: LoopConfig.schedule
    steer: Steering | None = None  # adaptive data: told every eval of this phase


_TRAIN = TrainParams()  # the train.* defaults: one owner


@dataclass
class LoopConfig:
    """The loop's knobs. Those named like a train.* key mean the same and default to it."""

    batch_size: int = _TRAIN.batch_size  # sequences per micro-batch per process
    grad_accum: int = _TRAIN.grad_accum
    warmup: float = _TRAIN.warmup
    schedule: str = _TRAIN.schedule
    min_lr_ratio: float = _TRAIN.min_lr_ratio
    precision: str = _TRAIN.precision
    log_every: int = _TRAIN.log_every
    eval_every: int = _TRAIN.eval_every  # steps between held-out losses (eval_sets) and probes; 0: only at the end
    save_every: int = _TRAIN.save_every  # steps between resumable checkpoints in ckpt_dir; 0: none
    gradient_checkpointing: bool = _TRAIN.gradient_checkpointing
    compile: bool = _TRAIN.compile
    seed: int = 0
    ckpt_dir: Path | None = None
    max_grad_norm: float = MAX_GRAD_NORM
    weight_decay: float = WEIGHT_DECAY

    @classmethod
    def from_params(cls, train: TrainParams, *, seed: int, ckpt_dir: Path | None = None) -> LoopConfig:
        shared = {f.name: getattr(train, f.name) for f in fields(cls) if hasattr(train, f.name)}
        return cls(**shared, seed=seed, ckpt_dir=ckpt_dir)


@dataclass
class LoopState:
    """Where a run is and what it has logged: what a checkpoint stores beside the weights."""

    step: int = 0  # global optimizer steps done
    tokens: int = 0  # loss-carrying tokens seen, all processes
    seconds: float = 0.0
    phase_tokens0: int = 0  # `tokens` when the current phase began
    phases: list[dict] = field(default_factory=list)  # one summary per finished phase
    history: list[dict] = field(default_factory=list)  # every curve point so far
    world_size: int = 1
    start_eval: dict = field(default_factory=dict)  # held-out losses of the start model (see against_start)
    steering: dict = field(default_factory=dict)  # phase name -> its Steering's state

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> LoopState:
        return cls(**{f.name: data[f.name] for f in fields(cls) if f.name in data})


@dataclass
class LoopResult:
    state: LoopState  # steps, tokens, seconds, phase summaries, world size at the end
    final_loss: float = float("nan")
    eval: dict[str, float] = field(default_factory=dict)  # last held-out losses and probe values
    resumed_from: int = 0  # global step restored from a checkpoint; 0 = fresh start

    @property
    def steps(self) -> int:
        return self.state.step

    @property
    def tokens(self) -> int:
        return self.state.tokens

    @property
    def seconds(self) -> float:
        return self.state.seconds

    @property
    def phases(self) -> list[dict]:
        return self.state.phases

    @property
    def world_size(self) -> int:
        return self.state.world_size


def resolve_precision(precision: str) -> str:
    """accelerate's mixed_precision: bf16 on GPUs that support it under "auto", fp32 on CPU."""
    if precision == "auto":
        return "bf16" if torch.cuda.is_available() and torch.cuda.is_bf16_supported() else "no"
    return {"fp32": "no"}.get(precision, precision)


def process_state():
    """accelerate's process state (rank, world) as the loop's Accelerator will see it."""
    from accelerate import PartialState

    return PartialState(cpu=not torch.cuda.is_available())


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
        betas=BETAS,
        eps=EPS,
        fused=True,  # one kernel per step (CPU and CUDA)
    )


class _Run:
    """One train_phases call: the prepared model and optimizer, the state, the curve bookkeeping."""

    def __init__(self, model, cfg: LoopConfig, phases: Sequence[Phase], log, penalty, eval_sets, probes, against_start):
        from accelerate import Accelerator
        from accelerate.utils import set_seed

        deterministic_torch()
        self.accelerator = Accelerator(
            mixed_precision=resolve_precision(cfg.precision),
            gradient_accumulation_steps=cfg.grad_accum,
            cpu=not torch.cuda.is_available(),
            dynamo_backend="inductor" if cfg.compile else None,
        )
        set_seed(cfg.seed)
        self.raw = model  # the plain module (what `penalty` and the caller see); prepare wraps it
        _prepare_model(model, cfg)
        opt = _optimizer(model, cfg, phases[0].lr if phases else 1e-4)
        self.model, self.opt = self.accelerator.prepare(model, opt)
        self.model.train()
        acc = self.accelerator
        self.cfg, self.penalty, self.eval_sets, self.probes = cfg, penalty, eval_sets, probes
        self.world, self.rank, self.device = acc.num_processes, acc.process_index, acc.device
        self.emit = log if (log is not None and acc.is_main_process) else (lambda point: None)
        self.saving = cfg.ckpt_dir is not None and cfg.save_every > 0
        self.state = LoopState(world_size=self.world)
        self.resumed_from, self.seconds_before = 0, 0.0
        self.pending_tokens, self.grad_norm = 0, None
        self.final_loss, self.running, self.eval = float("nan"), float("nan"), {}
        self.steers = {p.name: p.steer for p in phases if p.steer is not None}
        self.against_start = against_start if eval_sets else None

    def restore(self, desc: str) -> None:
        """Continue from the newest checkpoint in cfg.ckpt_dir, if any; replay its curve points."""
        found = checkpoint.latest(self.cfg.ckpt_dir) if self.saving else None
        if found is None:
            return
        state = LoopState.from_json(checkpoint.load(self.accelerator, found))
        if state.world_size != self.world:
            raise RuntimeError(
                f"{found} was written by {state.world_size} processes, this run has {self.world}; "
                f"delete {self.cfg.ckpt_dir} to start over"
            )
        self.state, self.resumed_from, self.seconds_before = state, state.step, state.seconds
        for name, steer in self.steers.items():
            if name in state.steering:
                steer.restore(state.steering[name])
        self.accelerator.print(f"{desc}: resuming from step {state.step} ({found})")
        for point in state.history:
            self.emit(point)

    def start_clock(self, total_steps: int, desc: str) -> None:
        self.total_steps = total_steps
        self.pbar = bar(
            total=total_steps,
            initial=self.state.step,
            desc=desc,
            unit="step",
            disable=not self.accelerator.is_local_main_process,
        )
        self.t0, self.tokens_t0 = time.time(), self.state.tokens

    def train_phase(self, phase: Phase, before: int) -> None:
        """The phase's steps after global step `before`, skipping those a checkpoint already holds."""
        cfg = self.cfg
        if before >= self.state.step:
            self.state.phase_tokens0 = self.state.tokens
        for step in range(max(0, self.state.step - before), phase.steps):
            lr = lr_at(
                step,
                phase.steps,
                lr=phase.lr,
                warmup=cfg.warmup if phase.warmup is None else phase.warmup,
                schedule=cfg.schedule if phase.decay is None else phase.decay,
                min_lr_ratio=cfg.min_lr_ratio,
            )
            loss_sum = self.optimizer_step(phase, step, lr)
            g = self.state.step = before + step + 1
            self.pbar.update(1)
            last = step == phase.steps - 1
            evaluating = bool(self.eval_sets or self.probes) and (
                (cfg.eval_every > 0 and g % cfg.eval_every == 0) or g == self.total_steps
            )
            save = self.saving and g % cfg.save_every == 0 and g < self.total_steps
            if not (last or evaluating or save or g % cfg.log_every == 0):
                continue
            self.log_point(phase, lr, loss_sum, evaluating, (step + 1) * cfg.grad_accum * self.world * cfg.batch_size)
            if last:
                self.state.phases.append(
                    {
                        "name": phase.name,
                        "first_step": before + 1,
                        "last_step": g,
                        "steps": phase.steps,
                        "lr": phase.lr,
                        "warmup": cfg.warmup if phase.warmup is None else phase.warmup,
                        "decay": cfg.schedule if phase.decay is None else phase.decay,
                        "blocks": len(phase.data),
                        "tokens": self.state.tokens - self.state.phase_tokens0,
                    }
                )
            if save:
                self.save()

    def optimizer_step(self, phase: Phase, step: int, lr: float) -> torch.Tensor:
        """One optimizer step of cfg.grad_accum micro-batches; the summed loss stays on the device."""
        acc, cfg = self.accelerator, self.cfg
        for group in self.opt.param_groups:
            group["lr"] = lr
        loss_sum = torch.zeros((), device=self.device)
        for micro in range(cfg.grad_accum):
            batch = batch_at(phase.data, (step * cfg.grad_accum + micro) * self.world + self.rank, cfg.batch_size)
            self.pending_tokens += int((batch["labels"] != -100).sum())  # counted on CPU: no device sync
            batch = {k: v.to(self.device, non_blocking=True) for k, v in batch.items()}
            with acc.accumulate(self.model):
                out = self.model(**batch)
                loss = out.loss if self.penalty is None else out.loss + self.penalty(self.raw)
                acc.backward(loss)
                if acc.sync_gradients:
                    self.grad_norm = acc.clip_grad_norm_(self.model.parameters(), cfg.max_grad_norm)
                self.opt.step()
                self.opt.zero_grad(set_to_none=True)
            loss_sum += out.loss.detach().float()
        return loss_sum

    def log_point(self, phase: Phase, lr: float, loss_sum: torch.Tensor, evaluating: bool, items: int) -> None:
        """The loop's only sync point (.item(), collectives): one curve point, evaluated if due (and the
        phase's steering told, which has read `items` items of the phase on all processes)."""
        acc, state = self.accelerator, self.state
        loss_val = acc.reduce(loss_sum / self.cfg.grad_accum, "mean").item()
        state.tokens += int(acc.reduce(torch.tensor(self.pending_tokens, device=self.device), "sum").item())
        self.pending_tokens = 0
        if not math.isfinite(loss_val):
            raise FloatingPointError(
                f"loss became {loss_val} at step {state.step} of phase {phase.name}; "
                "lower train.lr or use train.precision: fp32"
            )
        self.final_loss = loss_val
        self.running = loss_val if not math.isfinite(self.running) else 0.7 * self.running + 0.3 * loss_val
        elapsed = time.time() - self.t0
        self.pbar.set_postfix(
            phase=phase.name,
            loss=f"{self.running:.3f}",
            tok_s=f"{(state.tokens - self.tokens_t0) / max(elapsed, 1e-9):.0f}",
            refresh=False,
        )
        point = {
            "step": state.step,
            "phase": phase.name,
            "loss": loss_val,
            "lr": lr,
            "tokens": state.tokens,
            "grad_norm": float(self.grad_norm) if self.grad_norm is not None else float("nan"),
        }
        if evaluating:
            self.eval = evaluate(self.model, self.eval_sets, self.probes, self.cfg.batch_size, self.device)
            if self.against_start is not None:
                self.eval.update(self.against_start(self.eval, state.start_eval))
            point.update(self.eval)
            if phase.steer is not None:
                point.update(phase.steer.update(self.eval, items))
        state.history.append(point)
        self.emit(point)

    def elapsed(self) -> float:
        return round(self.seconds_before + time.time() - self.t0, 2)

    def measure_start(self) -> None:
        """Held-out losses of the start model, once (a checkpoint keeps them): against_start's reference."""
        if self.against_start is not None and not self.state.start_eval and self.state.step == 0:
            self.state.start_eval = held_out_losses(self.model, self.eval_sets, self.cfg.batch_size, self.device)

    def save(self) -> None:
        self.state.seconds = self.elapsed()
        self.state.steering = {name: steer.state() for name, steer in self.steers.items()}
        checkpoint.save(self.accelerator, self.cfg.ckpt_dir, self.state.to_json())

    def finish(self) -> LoopResult:
        self.pbar.close()
        self.state.seconds = self.elapsed()
        self.accelerator.wait_for_everyone()
        self.raw.eval()
        return LoopResult(self.state, final_loss=self.final_loss, eval=self.eval, resumed_from=self.resumed_from)


def train_phases(
    model: torch.nn.Module,
    phases: Sequence[Phase],
    cfg: LoopConfig,
    *,
    log: Callable[[dict[str, Any]], None] | None = None,
    penalty: Callable[[torch.nn.Module], torch.Tensor] | None = None,
    eval_sets: Mapping[str, Dataset] | None = None,
    probes: Mapping[str, Callable[[torch.nn.Module], float]] | None = None,
    against_start: Callable[[Mapping[str, float], Mapping[str, float]], dict[str, float]] | None = None,
    desc: str = "train",
) -> LoopResult:
    """Train through phases in order; each phase re-warms the LR and runs `steps` optimizer steps.

    `log` receives curve points on the main process only (on resume, the points before the
    checkpoint are replayed first, so curves continue). Resumes from the newest checkpoint in
    `cfg.ckpt_dir` when there is one. `probes` (name -> fn(model) -> number, e.g. exact match of
    greedy answers) run beside the held-out losses on every process, so the forward passes of a
    sharded model stay in step; they are logged as eval/<name>. `against_start` (values, the start
    model's held-out losses) -> more values, e.g. the forgetting ratio: the start is measured once,
    before the first step. A phase's `steer` is told every eval of its phase.
    """
    run = _Run(model, cfg, phases, log, penalty, eval_sets or {}, probes or {}, against_start)
    run.restore(desc)
    run.measure_start()
    run.start_clock(sum(p.steps for p in phases), desc)
    before = 0  # global steps of the phases before this one
    for phase in phases:
        if before + phase.steps > run.state.step:  # else finished before the checkpoint
            run.train_phase(phase, before)
        before += phase.steps
    return run.finish()

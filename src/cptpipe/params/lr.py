"""The LR policy: presets by start-model kind, the kind of a start, and each phase's resolved peak LR.

Following one LR: `recipes.<recipe>.schedule.<phase>.lr` wins; else `lr_scale` x (`train.lr`, else the preset of
the start's kind, `LR_PRESETS[start_lr_kind(...)]["default"]`). Every resolved LR must lie in that kind's range
(params validation says so; the train stage warns when the start's own kind differs from model.kind).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass

from cptpipe.params.sections import ModelParams, Params, PhaseSchedule, RecipeParams, TrainParams

# LR presets by start-model kind: the seed's ranges for real models (base 1e-4..5e-4; instruct 2e-5..1e-4,
# 2-5x lower), and for the ~3M-parameter scratch model the range measured on it (README "Recipes"): it
# learns documents at 1e-3, and a QA-only phase above ~3e-4 wipes what the documents stored. Every
# phase's LR must lie in its start kind's range.
LR_PRESETS: dict[str, dict[str, float]] = {
    "base": {"default": 3e-4, "low": 1e-4, "high": 5e-4},
    "instruct": {"default": 5e-5, "low": 2e-5, "high": 1e-4},
    "scratch": {"default": 1e-3, "low": 5e-5, "high": 3e-3},
    "scratch_instruct": {"default": 3e-4, "low": 2e-5, "high": 1e-3},
}


def lr_kind(kind: str, scratch: bool) -> str:
    """The LR_PRESETS key of a start model: its kind, prefixed for the scratch model."""
    if not scratch:
        return kind
    return "scratch" if kind == "base" else "scratch_instruct"


@dataclass(frozen=True)
class ResolvedLR:
    lr: float
    source: str  # "recipe", "params" or "preset:<kind>"
    low: float
    high: float
    problem: str | None  # outside the kind's range: a validation problem (a warning at train time)


def scale_for(lr_scale: float | dict[str, float], kind: str) -> float | None:
    """A phase's LR scale on a start of LR_PRESETS kind `kind`: the number, or the kind's (else default) entry."""
    if not isinstance(lr_scale, dict):
        return lr_scale
    return lr_scale.get(kind, lr_scale.get("default"))


def scale_problems(key: str, lr_scale: float | dict[str, float]) -> Iterator[str]:
    """A per-kind lr_scale names LR_PRESETS kinds (or default) with positive numbers."""
    if not isinstance(lr_scale, dict):
        return
    allowed = ("default", *LR_PRESETS)
    for k, v in lr_scale.items():
        if k not in allowed:
            yield f"{key}.lr_scale.{k}: unknown start kind; use {', '.join(allowed)}"
        elif v <= 0:
            yield f"{key}.lr_scale.{k}: must be a positive number, got {v:g}"


def phase_lrs(train: TrainParams, recipe: RecipeParams, kind: str) -> dict[str, ResolvedLR]:
    """Each phase's peak LR: its schedule's lr, else lr_scale x (train.lr, else the kind's preset)."""
    preset = LR_PRESETS[kind]
    out = {}
    for name in recipe.phases:
        sched = recipe.schedule.get(name, PhaseSchedule())
        scale = scale_for(sched.lr_scale, kind)
        if sched.lr is None and scale is None:
            problem = f"lr_scale names no scale for a {kind} start; add {kind}: or default: to it"
            out[name] = ResolvedLR(preset["default"], f"preset:{kind}", preset["low"], preset["high"], problem)
            continue
        sched = dataclasses.replace(sched, lr_scale=scale)
        if sched.lr is not None:
            lr, source = sched.lr, "recipe"
        elif train.lr is not None:
            lr, source = (
                train.lr * sched.lr_scale,
                "params" if sched.lr_scale == 1 else f"train.lr x {sched.lr_scale:g}",
            )
        else:
            lr, source = (
                preset["default"] * sched.lr_scale,
                f"preset:{kind}" + ("" if sched.lr_scale == 1 else f" x {sched.lr_scale:g}"),
            )
        problem = None
        if not preset["low"] * (1 - 1e-9) <= lr <= preset["high"] * (1 + 1e-9):
            problem = (
                f"LR {lr:g} ({source}) is outside the range for a {kind} start model "
                f"({preset['low']:g}..{preset['high']:g}); set lr or lr_scale (or train.lr) inside it, "
                "or train.lr_outside_range: true to run it anyway"
            )
        out[name] = ResolvedLR(lr, source, preset["low"], preset["high"], problem)
    return out


def start_lr_kind(model: ModelParams, kind: str | None = None) -> str:
    """The LR_PRESETS key of the start model: `kind` (the start's own, e.g. a scratch model tuned on instructions
    is "instruct"; default model.kind), prefixed when the start is the scratch model (model.name_or_path null)."""
    return lr_kind(kind or model.kind, scratch=model.name_or_path is None)


def resolve_phase_lrs(params: Params, kind: str | None = None) -> dict[str, ResolvedLR]:
    """Each phase of the selected recipe: its LR, where it came from, and its start kind's range."""
    return phase_lrs(params.train, params.recipes[params.train.recipe], start_lr_kind(params.model, kind))

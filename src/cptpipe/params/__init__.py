"""The typed schema of params.yaml: one dataclass per section, validation, LR/step presets.

Every stage calls `load_params()` before doing any work, so a bad key stops the first stage with
one message that lists every problem (key, what is wrong, what is allowed). A number's allowed
range is declared beside its field (`bounded(...)`, `share(...)`); checks across fields follow.

schema.py: the generic converter and bounds; sections.py: the dataclasses; checks.py: the checks across
fields; lr.py: the LR presets and their resolution. Every public name is importable from cptpipe.params.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import yaml

from cptpipe.errors import ParamsError
from cptpipe.params.checks import CROSS_CHECKS, PHASE_NAME, CrossCheck, phase_problems
from cptpipe.params.lr import (
    LR_PRESETS,
    ResolvedLR,
    lr_kind,
    phase_lrs,
    resolve_phase_lrs,
    scale_for,
    scale_problems,
    start_lr_kind,
)
from cptpipe.params.schema import Bound, bounded, build, check_bounds, near, problem_keys, share
from cptpipe.params.sections import (
    OWN_SOURCES,
    SOURCES,
    DedupParams,
    EvalBackend,
    EvalParams,
    FilterParams,
    Generator,
    IngestEngine,
    IngestParams,
    IngestProfile,
    LoraParams,
    LRSchedule,
    MixParams,
    MixSchedule,
    ModelKind,
    ModelParams,
    Params,
    PhaseParams,
    PhaseSchedule,
    Precision,
    QAEndpointParams,
    QAParams,
    QAType,
    RecipeParams,
    RopeScalingParams,
    RopeType,
    ScratchParams,
    TokenizeParams,
    TrainParams,
)
from cptpipe.params.yamlio import load_yaml


def parse_params(raw: Any, path: str = "params.yaml") -> Params:
    """Validate a params mapping; raise ParamsError listing every problem.

    Three passes, each on what the one before left sound: types and keys (build), each field's
    bound (declared beside the field), then the checks across fields.
    """
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ParamsError([f"top level must be a mapping, got {type(raw).__name__}"], path)
    problems: list[str] = []
    params = build(Params, raw, "", problems)
    problems.extend(check_bounds(params, "", problem_keys(problems)))
    bad = problem_keys(problems)
    for keys, check in CROSS_CHECKS:
        if not any(near(k, bad) for k in keys):
            problems.extend(check(params))
    if problems:
        raise ParamsError(problems, path)
    return params


def load_params(path: str | Path = "params.yaml") -> Params:
    """Read and validate params.yaml (all sections, whichever stage asks)."""
    path = Path(path)
    try:
        raw = load_yaml(path.read_text())
    except FileNotFoundError:
        raise ParamsError(["file not found (run from the repository root)"], str(path)) from None
    except yaml.YAMLError as e:
        raise ParamsError([f"not valid YAML: {e}"], str(path)) from None
    return parse_params(raw, str(path))


def to_dict(obj: Any) -> Any:
    return dataclasses.asdict(obj)


__all__ = [
    "Bound",
    "CROSS_CHECKS",
    "CrossCheck",
    "DedupParams",
    "EvalBackend",
    "EvalParams",
    "FilterParams",
    "Generator",
    "IngestEngine",
    "IngestParams",
    "IngestProfile",
    "LRSchedule",
    "LR_PRESETS",
    "LoraParams",
    "MixParams",
    "MixSchedule",
    "ModelKind",
    "ModelParams",
    "OWN_SOURCES",
    "PHASE_NAME",
    "Params",
    "PhaseParams",
    "PhaseSchedule",
    "Precision",
    "QAEndpointParams",
    "QAParams",
    "QAType",
    "RecipeParams",
    "ResolvedLR",
    "RopeScalingParams",
    "RopeType",
    "SOURCES",
    "ScratchParams",
    "TokenizeParams",
    "TrainParams",
    "bounded",
    "build",
    "check_bounds",
    "load_params",
    "load_yaml",
    "lr_kind",
    "near",
    "parse_params",
    "phase_lrs",
    "phase_problems",
    "problem_keys",
    "resolve_phase_lrs",
    "scale_for",
    "scale_problems",
    "share",
    "start_lr_kind",
    "to_dict",
]

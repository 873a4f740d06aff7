"""The checks across fields of params.yaml (or of a list's shape): each reads some keys and yields one line per
problem; parse_params runs it once every key it reads has its right type and range."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path

from cptpipe.params.lr import resolve_phase_lrs, scale_problems
from cptpipe.params.sections import OWN_SOURCES, SOURCES, MixParams, Params, PhaseParams, RecipeParams

# Checks across fields (or of a list's shape), run once every key they read has its right type and range.
CrossCheck = Callable[[Params], Iterator[str]]
CROSS_CHECKS: list[tuple[tuple[str, ...], CrossCheck]] = []


def _reads(*keys: str) -> Callable[[CrossCheck], CrossCheck]:
    """Register a cross-field check; it is skipped while any key it reads has a problem of its own."""

    def register(check: CrossCheck) -> CrossCheck:
        CROSS_CHECKS.append((keys, check))
        return check

    return register


PHASE_NAME = re.compile(r"^[A-Za-z0-9_]+$")  # a phase name is part of its index file name


@_reads("train.recipe")
def _recipe_is_defined(p: Params) -> Iterator[str]:
    if p.train.recipe not in p.recipes:
        yield (
            f"train.recipe: {p.train.recipe!r} is not a key of the recipes section; use one of "
            + ", ".join(repr(r) for r in p.recipes)
        )


def phase_problems(key: str, phase: PhaseParams, mix: MixParams) -> Iterator[str]:
    """What is wrong with one phase (`key` is recipes.<recipe>.phases.<phase>)."""
    own = [s for s in OWN_SOURCES if getattr(phase, s) is not None]
    replay = mix.replay if phase.replay is None else phase.replay
    instruct = mix.instruct if phase.instruct is None else phase.instruct
    if own and replay + instruct >= 1:
        yield (
            f"{key}: replay ({replay:g}) + instruct ({instruct:g}) leave nothing for {' and '.join(own)}; "
            "lower them (a phase's own key wins over mix.replay / mix.instruct)"
        )
    if not own and phase.instruct is None:
        yield f"{key}: the phase has no source; give domain and/or qa weights, or an instruct share"
    elif not own and abs(replay + instruct - 1) > 1e-6:
        yield f"{key}: a phase of replay and instructions only needs replay + instruct = 1, got {replay + instruct:g}"
    shares = {"domain": phase.domain, "qa": phase.qa, "replay": replay, "instruct": instruct}
    present = {s for s, v in shares.items() if v}
    if phase.passes is not None:
        if phase.tokens is not None:
            yield f"{key}: set passes or tokens, not both"
        if len(phase.passes) != 1:
            yield f"{key}.passes: name exactly one source, e.g. {{domain: 20}}, got {phase.passes}"
        for source, n in phase.passes.items():
            if source not in SOURCES:
                yield f"{key}.passes: unknown source {source!r}; use one of {', '.join(SOURCES)}"
            elif source not in present:
                yield f"{key}.passes: {source!r} has no share in this phase"
            if not isinstance(n, (int, float)) or isinstance(n, bool) or n <= 0:
                yield f"{key}.passes.{source}: must be a positive number, got {n!r}"
    elif phase.tokens is None and not own and phase.instruct is not None:
        yield f"{key}: no budget; set passes (e.g. {{instruct: 1}}) or tokens"


def _numbers(phase: PhaseParams) -> bool:
    """Whether a phase's shares have their types (a wrong one is a problem of its own already)."""
    return all(isinstance(getattr(phase, s), (int, float, type(None))) for s in SOURCES)


# Reads only mix.*: each recipe and phase is checked unless it failed to parse, so one typo in one
# phase does not hide the problems of every other.
@_reads("mix.replay", "mix.instruct")
def _recipes_well_formed(p: Params) -> Iterator[str]:
    if not isinstance(p.recipes, dict):
        return
    for name, recipe in p.recipes.items():
        key = f"recipes.{name}"
        if not isinstance(recipe, RecipeParams):
            continue
        if not recipe.phases:
            yield f"{key}.phases: a recipe needs at least one phase"
        for phase_name, phase in recipe.phases.items():
            if not PHASE_NAME.match(phase_name):
                yield f"{key}.phases.{phase_name}: a phase name uses letters, digits and _ only"
            if isinstance(phase, PhaseParams) and _numbers(phase):
                yield from phase_problems(f"{key}.phases.{phase_name}", phase, p.mix)
        for extra in recipe.schedule.keys() - recipe.phases.keys():
            yield (f"{key}.schedule.{extra}: no phase of that name; the phases are " + ", ".join(recipe.phases))
        for phase, sched in recipe.schedule.items():
            yield from scale_problems(f"{key}.schedule.{phase}", sched.lr_scale)


@_reads("train.recipe", "train.lr", "train.lr_outside_range", "recipes", "model.kind", "model.name_or_path")
def _phase_lrs_in_range(p: Params) -> Iterator[str]:
    if p.train.recipe not in p.recipes or p.train.lr_outside_range:
        return
    for phase, lr in resolve_phase_lrs(p).items():
        if lr.problem:
            yield f"recipes.{p.train.recipe}.schedule.{phase}: {lr.problem}"


@_reads("model.name_or_path", "model.gguf_file", "model.instruct_residual")
def _gguf_start_form(p: Params) -> Iterator[str]:
    m = p.model
    if m.gguf_file is not None and m.name_or_path is None:
        yield "model.gguf_file: set model.name_or_path to the directory that holds it (or null gguf_file)"
    is_gguf = m.gguf_file is not None or (m.name_or_path or "").lower().endswith(".gguf")
    if is_gguf and m.instruct_residual:
        yield "model.instruct_residual: not available for a .gguf start; dequantize both models and use directories"


@_reads("model.name_or_path", "model.scratch.context", "model.rope_scaling", "tokenize.seq_len")
def _seq_len_fits_context(p: Params) -> Iterator[str]:
    context, rope = p.model.scratch.context, p.model.rope_scaling
    factor = rope.factor if rope is not None else 1.0
    if p.model.name_or_path is None and p.tokenize.seq_len > int(context * factor):
        yield (
            f"tokenize.seq_len: {p.tokenize.seq_len} is larger than the model context model.scratch.context={context}"
            + (f" x model.rope_scaling.factor={factor:g}" if rope else "")
            + "; lower seq_len, raise context or set model.rope_scaling: {type: yarn, factor: N}"
        )


@_reads(
    "train.instruct_residual",
    "model.instruct_residual",
    "model.instruct_name_or_path",
    "model.name_or_path",
    "model.scratch.instruct_tune",
)
def _instruct_residual_needs(p: Params) -> Iterator[str]:
    m = p.model
    if p.train.instruct_residual > 0 and not m.instruct_residual:
        yield "train.instruct_residual: needs model.instruct_residual: true (the model stage stores the residual)"
    if m.instruct_residual and m.name_or_path is not None and not m.instruct_name_or_path:
        yield "model.instruct_name_or_path: model.instruct_residual needs the instruct sibling of model.name_or_path"


@_reads("model.scratch.hidden_size", "model.scratch.heads")
def _heads_divide_hidden(p: Params) -> Iterator[str]:
    sc = p.model.scratch
    if sc.hidden_size % sc.heads:
        yield f"model.scratch.hidden_size ({sc.hidden_size}) must be divisible by model.scratch.heads ({sc.heads})"


@_reads("train.accelerate_config")
def _accelerate_config_is_a_file(p: Params) -> Iterator[str]:
    path = p.train.accelerate_config
    if path is not None and not Path(path).is_file():
        yield (
            f"train.accelerate_config: {path} is not a file; write one with "
            "`accelerate config --config_file <path>` or set null for one local process"
        )


@_reads("mix.tokens", "mix.domain_epochs")
def _one_mix_budget(p: Params) -> Iterator[str]:
    if (p.mix.tokens is None) == (p.mix.domain_epochs is None):
        yield (
            "mix.tokens / mix.domain_epochs: set exactly one, the other null "
            "(e.g. -S mix.tokens=null -S mix.domain_epochs=2)"
        )


@_reads("mix.schedule", "mix.progressive_start", "mix.replay", "mix.instruct")
def _progressive_ramps_up(p: Params) -> Iterator[str]:
    m = p.mix
    domain = 1 - m.replay - m.instruct
    if m.schedule == "progressive" and m.progressive_start > domain + 1e-9:
        yield (
            f"mix.progressive_start: {m.progressive_start} is above the documents' share {domain:g} "
            "(1 - mix.replay - mix.instruct); a progressive schedule ramps the domain share up"
        )


@_reads("mix.schedule", "mix.replay_bounds", "mix.instruct", "train.recipe", "train.eval_every")
def _adaptive_can_steer(p: Params) -> Iterator[str]:
    m = p.mix
    bounds = m.replay_bounds
    if len(bounds) != 2 or not 0 <= bounds[0] <= bounds[1] < 1:
        yield f"mix.replay_bounds: give [low, high] replay shares with 0 <= low <= high < 1, got {bounds}"
    elif m.schedule == "adaptive" and bounds[1] + m.instruct >= 1:
        yield f"mix.replay_bounds: high {bounds[1]:g} + mix.instruct {m.instruct:g} leaves no room for documents"
    if m.schedule != "adaptive":
        return
    recipe = p.recipes.get(p.train.recipe)
    if recipe is not None and not any(ph.domain for ph in recipe.phases.values()):
        yield (
            f"mix.schedule: adaptive steers the replay share of documents phases; recipes.{p.train.recipe} "
            "has none (no phase with domain); use constant"
        )
    if p.train.eval_every == 0:
        yield "train.eval_every: 0 never measures forgetting, so mix.schedule: adaptive cannot steer; set e.g. 20"


@_reads("mix.replay_source", "mix.replay_take")
def _replay_source_form(p: Params) -> Iterator[str]:
    source = p.mix.replay_source
    if source is None:  # the folder dvc.yaml gives tokenize@replay
        return
    if source.startswith("hf:"):
        name, at, split = source[3:].rpartition("@")
        if not (at and name and split):
            yield f"mix.replay_source: {source!r} is not hf:name[:config]@split"
        if p.mix.replay_take is None:
            yield (
                "mix.replay_take: an hf: replay source is streamed; say how many tokens to take "
                "(e.g. 2x mix.tokens x mix.replay)"
            )
    elif not source.strip():
        yield "mix.replay_source: empty; use a local folder or hf:name[:config]@split"


@_reads("ingest.include")
def _include_patterns(p: Params) -> Iterator[str]:
    include = p.ingest.include
    if include is not None and not (include and all(include)):
        yield (
            f"ingest.include: a non-empty list of glob patterns relative to data/raw "
            f"(e.g. ['encyclopedia/person/*']) or null for every file, got {include!r}"
        )


@_reads("ingest.filters.word_len")
def _word_len_pair(p: Params) -> Iterator[str]:
    word_len = p.ingest.filters.word_len
    if len(word_len) != 2 or not word_len[0] < word_len[1]:
        yield f"ingest.filters.word_len: give [low, high] with low < high, got {word_len}"


@_reads("qa.types")
def _some_qa_types(p: Params) -> Iterator[str]:
    if not p.qa.types:
        yield "qa.types: list at least one of factual, reasoning, summarization"


@_reads("qa.generator", "qa.model", "qa.endpoint.base_url", "qa.endpoint.model", "qa.endpoint.api_key_env")
def _generator_needs(p: Params) -> Iterator[str]:
    """qa.generator hf needs qa.model; openai needs the endpoint's URL and model (the key only by name)."""
    ep = p.qa.endpoint
    if p.qa.generator == "hf" and not p.qa.model:
        yield "qa.model: qa.generator 'hf' needs a hub id or a local save_pretrained directory"
    if p.qa.generator != "openai":
        return
    if not (ep.base_url or "").startswith(("http://", "https://")):
        yield (
            "qa.endpoint.base_url: qa.generator 'openai' needs an http(s) URL of an OpenAI-compatible API, "
            f"got {ep.base_url!r}"
        )
    if not ep.model:
        yield "qa.endpoint.model: qa.generator 'openai' needs the model name the endpoint serves"
    if ep.api_key_env is not None and not ep.api_key_env.isidentifier():
        yield (
            "qa.endpoint.api_key_env: the NAME of an environment variable (never the key itself) or null, "
            "got a value that is not a variable name"
        )

"""The typed schema of params.yaml: one dataclass per section, validation, LR/step presets.

Every stage calls `load_params()` before doing any work, so a bad key stops the first stage with
one message that lists every problem (key, what is wrong, what is allowed). A number's allowed
range is declared beside its field (`bounded(...)`, `share(...)`); checks across fields follow.
"""

from __future__ import annotations

import dataclasses
import math
import re
import types
import typing
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Union, get_args, get_origin

import yaml

from cptpipe.errors import ParamsError

ModelKind = Literal["base", "instruct"]
Generator = Literal["rules", "hf", "openai"]
IngestProfile = Literal["curated", "web"]
IngestEngine = Literal["local", "ray"]
QAType = Literal["factual", "reasoning", "summarization"]
MixSchedule = Literal["constant", "progressive", "adaptive"]
EvalBackend = Literal["hf", "vllm"]
LRSchedule = Literal["cosine", "linear", "constant"]
# The sources a recipe phase can draw from (one tokenize@<source> shard each). Prompt/answer sources are
# sampled as whole rows; "own" sources share what a phase's replay and instruct shares leave.
SOURCES = ("domain", "qa", "replay", "instruct")
OWN_SOURCES = ("domain", "qa")
Precision = Literal["auto", "fp32", "bf16", "fp16"]
RopeType = Literal["yarn"]

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


@dataclass(frozen=True)
class Bound:
    """The allowed range of a number field; declared beside the field with `bounded(...)`."""

    ge: float | None = None
    gt: float | None = None
    le: float | None = None
    lt: float | None = None
    also: float | None = None  # one more allowed value outside the range, e.g. 0 for "off"
    why: str = ""  # what the range means, said in the message

    def admits(self, v: float) -> bool:
        return v == self.also or (
            (self.ge is None or v >= self.ge)
            and (self.gt is None or v > self.gt)
            and (self.le is None or v <= self.le)
            and (self.lt is None or v < self.lt)
        )

    def allowed(self, integer: bool) -> str:
        """The range in words: "in [0, 1)", ">= 8", "a positive number", "0 or >= 2"."""
        low, lo = (self.ge, "[") if self.ge is not None else (self.gt, "(")
        high, hi = (self.le, "]") if self.le is not None else (self.lt, ")")
        if low is not None and high is not None:
            text = f"in {lo}{low:g}, {high:g}{hi}"
        elif self.gt == 0:
            text = "a positive integer" if integer else "a positive number"
        elif low is not None:
            text = f"{'>=' if lo == '[' else '>'} {low:g}"
        else:
            text = f"{'<=' if hi == ']' else '<'} {high:g}"
        return text if self.also is None else f"{self.also:g} or {text}"


def bounded(default: Any, **bound: Any) -> Any:
    """A dataclass field with its allowed range beside it, e.g. `warmup: float = bounded(0.05, ge=0, lt=1)`."""
    return field(default=default, metadata={"bound": Bound(**bound)})


def share(default: float) -> Any:
    """A field holding a share in [0, 1]."""
    return bounded(default, ge=0, le=1)


@dataclass
class ScratchParams:
    vocab_size: int = bounded(4000, ge=100)  # sentencepiece pieces; 600..32000
    hidden_size: int = bounded(128, ge=8)  # a multiple of heads
    layers: int = bounded(4, ge=1)
    heads: int = bounded(4, ge=1)
    context: int = 256  # max positions of the scratch model
    pretrain_tokens: int = bounded(1_000_000, ge=0)  # replay tokens seen while pretraining the scratch model
    pretrain_lr: float = 1e-3
    instruct_tune: bool = False  # also tune on data/instruct train rows -> an "instruct" start model
    # "Repeat exactly" rows from replay text in the instruction pass; 0: none
    instruct_copy_rows: int = bounded(24000, ge=0)
    instruct_epochs: int = bounded(10, ge=1)  # passes over the instruction rows
    instruct_fresh_words: float = share(0.75)  # share of instruction rows whose copied words become replay words
    instruct_lr: float = bounded(3e-3, gt=0)  # peak LR of the copy and instruction passes (cosine, re-warmed)
    instruct_batch_size: int = bounded(32, ge=1)  # rows per step of those passes
    # share of replay-text rows (loss on every token) in those passes; keeps the LM
    instruct_replay: float = bounded(0.2, ge=0, lt=1)


@dataclass
class RopeScalingParams:
    type: RopeType = "yarn"  # YaRN (Peng et al. 2023), as in UltraLong / Llama-3.1 context extension
    factor: float = bounded(2.0, gt=1, why="the context multiplier")  # new context = start context x factor


@dataclass
class ModelParams:
    name_or_path: str | None = None  # null: build the scratch model; else hub id, local dir or .gguf file
    gguf_file: str | None = None  # a .gguf file inside the name_or_path directory (dequantized to fp32)
    kind: ModelKind = "base"
    revision: str | None = None  # hub revision to pin; null = resolve "main" once
    scratch: ScratchParams = field(default_factory=ScratchParams)
    rope_scaling: RopeScalingParams | None = None  # context extension applied at train time; null = none
    # also store (instruct - base) weights in models/start for train.instruct_residual (Jindal et al. 2024)
    instruct_residual: bool = False
    instruct_name_or_path: str | None = None  # the instruct sibling of a hub/local start (scratch: tuned here)


@dataclass
class DedupParams:
    exact: bool = True
    near: float | None = bounded(0.85, gt=0, le=1)  # MinHash Jaccard threshold; null disables near-dedup


@dataclass
class FilterParams:
    """Quality filters (cptpipe.data.filters); the defaults follow the Gopher rules."""

    min_alpha_ratio: float = share(0.5)  # letters / non-space characters; below -> low_alpha
    word_len: list[float] = field(default_factory=lambda: [2.0, 15.0])  # mean word length bounds -> gopher_word_len
    max_symbol_ratio: float = share(0.1)  # ('#', '...') per word; above -> gopher_symbols
    max_bullet_lines: float = share(0.9)  # share of lines starting with a bullet; above -> gopher_bullets
    max_ellipsis_lines: float = share(0.3)  # share of lines ending with '...'; above -> gopher_ellipsis
    max_dup_line_frac: float = share(0.3)  # share of lines that occur more than once; above -> repeated_lines
    max_top_2gram_frac: float = share(0.2)  # words covered by the most frequent 2-gram; above -> repeated_ngrams
    max_dup_5gram_frac: float = share(0.15)  # words inside 5-grams occurring more than once; above -> repeated_ngrams
    # share of text in space-less tokens of 40+ chars; above -> encoded_blob (always drops)
    max_blob_frac: float = share(0.5)


@dataclass
class IngestParams:
    # curated: the Gopher quality/repetition rules only flag documents (kept); web: they drop them
    profile: IngestProfile = "curated"
    min_chars: int = bounded(200, ge=0)
    max_chars: int = bounded(1_000_000, ge=1)
    text_field: str = "text"  # jsonl/parquet column holding the document text
    dedup: DedupParams = field(default_factory=DedupParams)
    heldout_docs: float = bounded(0.2, ge=0, lt=1)  # share of documents whose QA is held out for evaluation
    shard_docs: int = bounded(5000, ge=1)  # documents per output shard
    strict: bool = False
    filters: FilterParams = field(default_factory=FilterParams)
    # a short line seen this often in one document is kept once
    boilerplate_repeats: int = bounded(3, ge=2, also=0, why="0: off")
    # whole-file formats (txt/md/html/pdf/json) above this are dropped as too_large
    max_file_mb: int = bounded(256, ge=1)
    shard_mb: int = bounded(256, ge=1)  # text MB per output shard (with shard_docs, whichever comes first)
    workers: int | None = bounded(None, ge=1)  # processes reading files; null: all cores
    # hash partitions of the dedup passes and shard order; null: one per 128 MB of input, at least one per worker
    partitions: int | None = bounded(None, ge=1)
    # where ingest's tasks run: local (this machine's cores) | ray (pip install -e ".[ray]"); same shards either way
    engine: IngestEngine = "local"
    # ray only: cluster address (auto, head:6379); null: RAY_ADDRESS, else a local runtime of `workers` CPUs
    ray_address: str | None = None
    include: list[str] | None = None  # glob patterns over paths relative to data/raw; null: every file
    # dropping more of the documents or bytes than this warns (reasons, files, keys)
    max_drop_share: float = bounded(0.2, ge=0, le=1, why="1: never warn")
    fail_on_drop: bool = False  # true: dropping more than max_drop_share fails the stage instead
    # longer documents are split into sections (QA and held-out split per section)
    section_chars: int = bounded(4000, ge=0, why="0: never split")


@dataclass
class QAEndpointParams:
    """An OpenAI-compatible chat-completions endpoint (qa.generator: openai)."""

    base_url: str | None = None  # e.g. https://api.openai.com/v1 or http://127.0.0.1:8000/v1
    model: str | None = None  # model name the endpoint serves
    api_key_env: str | None = "OPENAI_API_KEY"  # NAME of the env var holding the key; null: no auth
    concurrency: int = bounded(4, ge=1)  # requests in flight at once
    timeout_s: float = bounded(60.0, gt=0)  # per request
    max_retries: int = bounded(5, ge=0)  # on 429 / 5xx / timeouts, with exponential backoff


@dataclass
class QAParams:
    generator: Generator = "rules"
    per_doc: int = bounded(8, ge=1)  # QA pairs asked per document
    types: list[QAType] = field(default_factory=lambda: ["factual", "reasoning", "summarization"])
    paraphrases: int = bounded(0, ge=0)  # extra paraphrased questions per factual pair, training-split docs only
    model: str | None = None  # qa.generator: hf — hub id or local save_pretrained dir
    batch_size: int = bounded(8, ge=1)  # qa.generator: hf — prompts per generate() call
    max_new_tokens: int = bounded(384, ge=16)  # qa.generator: hf/openai — completion budget per prompt
    endpoint: QAEndpointParams = field(default_factory=QAEndpointParams)


@dataclass
class TokenizeParams:
    seq_len: int = bounded(256, ge=8)  # packed block length; must be <= the model context
    batch_rows: int = bounded(1024, ge=1)  # rows per tokenizer call (memory is bounded by one batch)


@dataclass
class MixParams:
    """Defaults of every recipe phase (a phase's own key wins) and how the index is sampled."""

    replay: float = bounded(0.06, ge=0, lt=1)  # share of general replay text in every phase
    instruct: float = bounded(0.02, ge=0, lt=1)  # share of instruction rows in every phase
    # domain+replay+instruct tokens of a phase with documents; null: use domain_epochs
    tokens: int | None = bounded(2_000_000, ge=1)
    domain_epochs: float | None = bounded(None, gt=0)  # alternative to tokens: passes over domain train tokens
    # passes over train-split QA in a phase with QA and no documents, one pair per sequence
    qa_epochs: float = bounded(2.0, gt=0)
    schedule: MixSchedule = "constant"
    progressive_start: float = share(0.5)  # progressive: domain share at the start of the documents phase
    # adaptive: the replay share of documents phases is steered at every train.eval_every so that the
    # replay perplexity ratio (cpt / start, the forgetting metric of metrics.yaml) stays under this budget
    forgetting_budget: float = bounded(1.5, gt=1)
    replay_bounds: list[float] = field(default_factory=lambda: [0.0, 0.5])  # adaptive: [low, high] replay share
    doc_attention_mask: bool = False  # true: no attention across documents packed into one block
    seed: int | None = None  # sampling-order seed of the index; null: the top-level seed. Varying only this
    # (not `seed`) gives run-to-run spread without re-ingesting, re-pretraining or re-splitting.
    replay_source: str | None = None  # a folder (txt/jsonl/parquet) or hf:name[:config]@split;
    # null: the folder dvc.yaml gives tokenize@replay (its --input)
    replay_take: int | None = bounded(None, ge=1)  # tokens read from the replay source; null: all (local folders only)


@dataclass
class LoraParams:
    r: int = 16
    alpha: int = 32
    dropout: float = 0.05
    target_modules: list[str] = field(default_factory=lambda: ["q_proj", "k_proj", "v_proj", "o_proj"])


@dataclass
class PhaseParams:
    """recipes.<recipe>.phases.<phase>: the data of one phase (what the mix stage reads).

    domain and qa are weights of the phase's own sources: they share what replay and instruct leave.
    replay and instruct are shares of the whole phase (null: mix.replay, mix.instruct). The budget is
    `passes` over one named source or `tokens`; null: mix.domain_epochs / mix.tokens for a phase with
    documents, mix.qa_epochs passes over qa for one with QA and no documents.
    """

    domain: float | None = bounded(None, gt=0)
    qa: float | None = bounded(None, gt=0)
    replay: float | None = bounded(None, ge=0, lt=1)
    instruct: float | None = bounded(None, ge=0, le=1)
    passes: dict[str, float] | None = None  # {source: passes over its train tokens}, one source
    tokens: int | None = bounded(None, ge=1)  # domain+replay+instruct tokens (QA rides on top when mixed in)


@dataclass
class PhaseSchedule:
    """recipes.<recipe>.schedule.<phase>: the optimizer of one phase (what the train stage reads)."""

    lr: float | None = bounded(None, gt=0)  # absolute peak LR; null: lr_scale x train.lr
    lr_scale: float = bounded(1.0, gt=0)  # used when lr is null
    warmup: float | None = bounded(None, ge=0, lt=1)  # null: train.warmup
    decay: LRSchedule | None = None  # null: train.schedule


@dataclass
class RecipeParams:
    """recipes.<name>: phases in order (dict order), each with an optional schedule entry."""

    phases: dict[str, PhaseParams] = field(default_factory=dict)
    schedule: dict[str, PhaseSchedule] = field(default_factory=dict)


def _default_recipes() -> dict[str, RecipeParams]:
    return {"cpt": RecipeParams(phases={"docs": PhaseParams(domain=1.0)})}


@dataclass
class TrainParams:
    recipe: str = "cpt"  # a key of the top-level recipes section
    lr: float | None = bounded(None, gt=0)  # null: preset from model.kind
    steps: int | None = bounded(None, gt=0)  # null: one pass over the mix
    warmup: float = bounded(0.05, ge=0, lt=1)  # share of each phase's steps spent warming up
    schedule: LRSchedule = "cosine"
    min_lr_ratio: float = bounded(0.1, ge=0, lt=1)  # decay floor as a share of lr
    batch_size: int = bounded(16, ge=1)  # sequences per micro-batch; a step is batch_size x grad_accum
    grad_accum: int = bounded(1, ge=1)
    lora: LoraParams | None = None
    ewc: float = bounded(0.0, ge=0)  # EWC penalty weight; 0: off
    precision: Precision = "auto"
    save_every: int = bounded(0, ge=0)  # steps between resumable checkpoints; 0 = only the final save
    log_every: int = bounded(10, ge=1)
    eval_every: int = bounded(50, ge=0)  # steps between held-out losses (replay, domain); 0 = only at the end
    # factual QA per split (seen, held-out) answered greedily at each eval; 0 = off
    absorption_questions: int = bounded(64, ge=0)
    gradient_checkpointing: bool = False  # less activation memory, ~30% more compute
    compile: bool = False  # torch.compile the model (inductor)
    accelerate_config: str | None = None  # accelerate config file: the stage runs under `accelerate launch`
    # after training, weights += this x (instruct - base) from models/start; 0: off
    instruct_residual: float = bounded(0.0, ge=0, le=2)


@dataclass
class EvalParams:
    domain_qa: bool = True
    replay_ppl: bool = True
    general_ppl: bool = True  # perplexity on data/general: text no phase trains on (forgetting of a real model)
    instruct_follow: bool = True
    lm_eval_tasks: list[str] = field(default_factory=list)
    batch_size: int | Literal["auto"] = bounded(32, ge=1)  # "auto": lm-eval finds the largest that fits
    max_new_tokens: int = bounded(24, ge=1)
    limit: int | None = None  # cap examples per task (quick runs); null = all
    backend: EvalBackend = "hf"  # lm-eval's model class: hf (HFLM) | vllm (VLLM, GPU machines)
    model_args: dict[str, Any] = field(default_factory=dict)  # passed to that class, e.g. {dtype: bfloat16}
    passkey_lengths: list[int] = field(default_factory=list)  # context lengths (tokens) for the passkey check
    passkey_samples: int = 20  # passkey examples per length


@dataclass
class Params:
    seed: int = 0
    model: ModelParams = field(default_factory=ModelParams)
    ingest: IngestParams = field(default_factory=IngestParams)
    qa: QAParams = field(default_factory=QAParams)
    tokenize: TokenizeParams = field(default_factory=TokenizeParams)
    mix: MixParams = field(default_factory=MixParams)
    train: TrainParams = field(default_factory=TrainParams)
    eval: EvalParams = field(default_factory=EvalParams)
    recipes: dict[str, RecipeParams] = field(default_factory=_default_recipes)


def _describe(tp: Any) -> str:
    origin = get_origin(tp)
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in get_args(tp))
    if origin in (Union, types.UnionType):
        return " or ".join("null" if a is type(None) else _describe(a) for a in get_args(tp))
    if origin is list:
        return f"a list of ({_describe(get_args(tp)[0])})"
    if dataclasses.is_dataclass(tp):
        return "a mapping with keys " + ", ".join(f.name for f in dataclasses.fields(tp))
    if origin is dict:
        return "a mapping"
    return {int: "an integer", float: "a number", bool: "true/false", str: "a string"}.get(tp, str(tp))


def _convert(value: Any, tp: Any, key: str, problems: list[str]) -> Any:
    """Check `value` against annotation `tp`; return the converted value (dataclasses built)."""
    origin = get_origin(tp)
    if origin in (Union, types.UnionType):
        args = get_args(tp)
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        if len(inner) == 1:
            return _convert(value, inner[0], key, problems)
        for option in inner:  # e.g. int or "auto": the first reading without a problem
            trial: list[str] = []
            converted = _convert(value, option, key, trial)
            if not trial:
                return converted
        problems.append(f"{key}: expected {_describe(tp)}, got {value!r}")
        return value
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            problems.append(f"{key}: expected {_describe(tp)}, got {value!r}")
            return tp()
        return _build(tp, value, key, problems)
    if origin is Literal:
        if value not in get_args(tp):
            problems.append(f"{key}: {value!r} is not allowed; use {_describe(tp)}")
        return value
    if origin is dict:
        if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
            problems.append(f"{key}: expected {_describe(tp)} of names to values, got {value!r}")
            return {}
        inner = get_args(tp)[1] if get_args(tp) else Any
        if inner is Any:
            return dict(value)
        return {k: _convert(v, inner, f"{key}.{k}", problems) for k, v in value.items()}
    if origin is list:
        if not isinstance(value, list):
            problems.append(f"{key}: expected {_describe(tp)}, got {value!r}")
            return []
        return [_convert(v, get_args(tp)[0], f"{key}[{i}]", problems) for i, v in enumerate(value)]
    ok = {
        bool: isinstance(value, bool),
        int: isinstance(value, int) and not isinstance(value, bool),
        float: isinstance(value, (int, float)) and not isinstance(value, bool),
        str: isinstance(value, str),
    }.get(tp, True)
    if not ok:
        problems.append(f"{key}: expected {_describe(tp)}, got {value!r}")
        return value
    if tp is float:
        value = float(value)
        if not math.isfinite(value):
            problems.append(f"{key}: must be finite, got {value!r}")
    return value


def _build(cls: type, raw: dict, prefix: str, problems: list[str]) -> Any:
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    for k in raw:
        if k not in names:
            where = f"{prefix}.{k}" if prefix else str(k)
            problems.append(f"{where}: unknown key; allowed keys here: {', '.join(names)}")
    kwargs = {}
    for name in names:
        if name in raw:
            kwargs[name] = _convert(raw[name], hints[name], f"{prefix}.{name}" if prefix else name, problems)
    return cls(**kwargs)


def _near(key: str, bad: set[str]) -> bool:
    """Whether `key`, a section above it or a value inside it already has a problem."""
    return any(b == key or b.startswith((key + ".", key + "[")) or key.startswith(b + ".") for b in bad)


def _check_bounds(obj: Any, prefix: str, bad: set[str]) -> list[str]:
    """Every bounded number in `obj` and its sections; keys in `bad` (wrong type) are not compared."""
    problems = []
    hints = typing.get_type_hints(type(obj))
    for f in dataclasses.fields(obj):
        key, value = prefix + f.name, getattr(obj, f.name)
        if key in bad:  # its type is wrong (a section: it was not a mapping); that problem says enough
            continue
        if dataclasses.is_dataclass(value):
            problems.extend(_check_bounds(value, key + ".", bad))
        if isinstance(value, dict):
            for name, item in value.items():
                if dataclasses.is_dataclass(item) and f"{key}.{name}" not in bad:
                    problems.extend(_check_bounds(item, f"{key}.{name}.", bad))
        bound = f.metadata.get("bound")
        if bound is None or not isinstance(value, (int, float)) or isinstance(value, bool) or bound.admits(value):
            continue
        null = " or null" if type(None) in get_args(hints[f.name]) else ""
        why = f" ({bound.why})" if bound.why else ""
        problems.append(f"{key}: must be {bound.allowed(isinstance(value, int))}{null}{why}, got {value}")
    return problems


# Checks across fields (or of a list's shape), run once every key they read has its right type and range.
CrossCheck = Callable[[Params], Iterator[str]]
_CROSS_CHECKS: list[tuple[tuple[str, ...], CrossCheck]] = []


def _reads(*keys: str) -> Callable[[CrossCheck], CrossCheck]:
    """Register a cross-field check; it is skipped while any key it reads has a problem of its own."""

    def register(check: CrossCheck) -> CrossCheck:
        _CROSS_CHECKS.append((keys, check))
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


@_reads("train.recipe", "train.lr", "recipes", "model.kind", "model.name_or_path")
def _phase_lrs_in_range(p: Params) -> Iterator[str]:
    if p.train.recipe not in p.recipes:
        return
    kind = lr_kind(p.model.kind, scratch=p.model.name_or_path is None)
    for phase, lr in phase_lrs(p.train, p.recipes[p.train.recipe], kind).items():
        if lr.problem:
            yield f"recipes.{p.train.recipe}.schedule.{phase}: {lr.problem}"


@_reads("model.name_or_path", "model.gguf_file", "model.instruct_residual")
def _gguf_start_form(p: Params) -> Iterator[str]:
    m = p.model
    if m.gguf_file is not None and m.name_or_path is None:
        yield "model.gguf_file: set model.name_or_path to the directory that holds it (or null gguf_file)"
    if m.gguf_file is not None and not m.gguf_file.lower().endswith(".gguf"):
        yield f"model.gguf_file: {m.gguf_file} is not a .gguf file name"
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


def _keys(problems: list[str]) -> set[str]:
    """The keys the problems name (the text before the first colon)."""
    return {p.split(":", 1)[0] for p in problems}


def parse_params(raw: Any, path: str = "params.yaml") -> Params:
    """Validate a params mapping; raise ParamsError listing every problem.

    Three passes, each on what the one before left sound: types and keys (_build), each field's
    bound (declared beside the field), then the checks across fields.
    """
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ParamsError([f"top level must be a mapping, got {type(raw).__name__}"], path)
    problems: list[str] = []
    params = _build(Params, raw, "", problems)
    problems.extend(_check_bounds(params, "", _keys(problems)))
    bad = _keys(problems)
    for keys, check in _CROSS_CHECKS:
        if not any(_near(k, bad) for k in keys):
            problems.extend(check(params))
    if problems:
        raise ParamsError(problems, path)
    return params


def load_params(path: str | Path = "params.yaml") -> Params:
    """Read and validate params.yaml (all sections, whichever stage asks)."""
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise ParamsError(["file not found (run from the repository root)"], str(path)) from None
    except yaml.YAMLError as e:
        raise ParamsError([f"not valid YAML: {e}"], str(path)) from None
    return parse_params(raw, str(path))


def to_dict(obj: Any) -> Any:
    return dataclasses.asdict(obj)


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


def phase_lrs(train: TrainParams, recipe: RecipeParams, kind: str) -> dict[str, ResolvedLR]:
    """Each phase's peak LR: its schedule's lr, else lr_scale x (train.lr, else the kind's preset)."""
    preset = LR_PRESETS[kind]
    out = {}
    for name in recipe.phases:
        sched = recipe.schedule.get(name, PhaseSchedule())
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
                f"({preset['low']:g}..{preset['high']:g}); set lr or lr_scale (or train.lr) inside it"
            )
        out[name] = ResolvedLR(lr, source, preset["low"], preset["high"], problem)
    return out

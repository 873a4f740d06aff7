"""The typed schema of params.yaml: one dataclass per section, validation, LR/step presets.

Every stage calls `load_params()` before doing any work, so a bad key stops the first stage with
one message that lists every problem (key, what is wrong, what is allowed).
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Union, get_args, get_origin

import yaml

from cptpipe.errors import ParamsError

ModelKind = Literal["base", "instruct"]
# Recipes (phases in cptpipe.mix.recipes.RECIPES); those listed in QA_MIXING_RECIPES train QA inside
# the documents phase at share mix.qa.
Recipe = Literal["cpt", "it_after_cpt", "pit", "mixed", "pit_docs_only", "pit_final_it"]
QA_MIXING_RECIPES = ("pit", "mixed", "pit_final_it")
Generator = Literal["rules", "hf", "openai"]
IngestProfile = Literal["curated", "web"]
QAType = Literal["factual", "reasoning", "summarization"]
MixSchedule = Literal["constant", "progressive"]
EvalBackend = Literal["hf", "vllm"]
LRSchedule = Literal["cosine", "linear", "constant"]
Precision = Literal["auto", "fp32", "bf16", "fp16"]
RopeType = Literal["yarn"]

# LR presets by start-model kind (recommended ranges: base 1e-4..5e-4, instruct 2e-5..1e-4).
LR_PRESETS: dict[str, dict[str, float]] = {
    "base": {"default": 3e-4, "low": 1e-4, "high": 5e-4},
    "instruct": {"default": 5e-5, "low": 2e-5, "high": 1e-4},
}


@dataclass
class ScratchParams:
    vocab_size: int = 4000  # sentencepiece pieces; 600..32000
    hidden_size: int = 128
    layers: int = 4
    heads: int = 4
    context: int = 256  # max positions of the scratch model
    pretrain_tokens: int = 1_000_000  # replay tokens seen while pretraining the scratch model
    pretrain_lr: float = 1e-3
    instruct_tune: bool = False  # also tune on data/instruct train rows -> an "instruct" start model
    instruct_copy_rows: int = 24000  # "Repeat exactly" rows from replay text in the instruction pass; 0: none
    instruct_epochs: int = 10  # passes over the instruction rows
    instruct_fresh_words: float = 0.75  # share of instruction rows whose copied words become replay words
    instruct_lr: float = 3e-3  # peak LR of the copy and instruction passes (cosine, re-warmed)
    instruct_replay: float = 0.2  # share of replay-text rows (loss on every token) in those passes; keeps the LM


@dataclass
class RopeScalingParams:
    type: RopeType = "yarn"  # YaRN (Peng et al. 2023), as in UltraLong / Llama-3.1 context extension
    factor: float = 2.0  # new context = start context x factor


@dataclass
class ModelParams:
    name_or_path: str | None = None  # null: build the scratch model; else hub id or local dir
    kind: ModelKind = "base"
    revision: str | None = None  # hub revision to pin; null = resolve "main" once
    scratch: ScratchParams = field(default_factory=ScratchParams)
    rope_scaling: RopeScalingParams | None = None  # context extension applied at train time; null = none


@dataclass
class DedupParams:
    exact: bool = True
    near: float | None = 0.85  # MinHash Jaccard threshold; null disables near-dedup


@dataclass
class FilterParams:
    """Quality filters (cptpipe.data.filters); the defaults follow the Gopher rules."""

    min_alpha_ratio: float = 0.5  # letters / non-space characters; below -> low_alpha
    word_len: list[float] = field(default_factory=lambda: [2.0, 15.0])  # mean word length bounds -> gopher_word_len
    max_symbol_ratio: float = 0.1  # ('#', '...') per word; above -> gopher_symbols
    max_bullet_lines: float = 0.9  # share of lines starting with a bullet; above -> gopher_bullets
    max_ellipsis_lines: float = 0.3  # share of lines ending with '...'; above -> gopher_ellipsis
    max_dup_line_frac: float = 0.3  # share of lines that occur more than once; above -> repeated_lines
    max_top_2gram_frac: float = 0.2  # words covered by the most frequent 2-gram; above -> repeated_ngrams
    max_dup_5gram_frac: float = 0.15  # words inside 5-grams occurring more than once; above -> repeated_ngrams
    max_blob_frac: float = 0.5  # share of text in space-less tokens of 40+ chars; above -> encoded_blob (always drops)


@dataclass
class IngestParams:
    # curated: the Gopher quality/repetition rules only flag documents (kept); web: they drop them
    profile: IngestProfile = "curated"
    min_chars: int = 200
    max_chars: int = 1_000_000
    text_field: str = "text"  # jsonl/parquet column holding the document text
    dedup: DedupParams = field(default_factory=DedupParams)
    heldout_docs: float = 0.2  # share of documents whose QA is held out for evaluation
    shard_docs: int = 5000  # documents per output shard
    strict: bool = False
    filters: FilterParams = field(default_factory=FilterParams)
    boilerplate_repeats: int = 3  # a short line seen this often in one document is kept once; 0: off
    max_file_mb: int = 256  # whole-file formats (txt/md/html/pdf/json) above this are dropped as too_large
    shard_mb: int = 256  # text MB per output shard (with shard_docs, whichever comes first)
    workers: int | None = None  # processes reading files; null: all cores
    include: list[str] | None = None  # glob patterns over paths relative to data/raw; null: every file
    max_drop_share: float = 0.2  # dropping more of the documents or bytes than this warns (reasons, files, keys)
    fail_on_drop: bool = False  # true: dropping more than max_drop_share fails the stage instead
    section_chars: int = 4000  # longer documents are split into sections (QA and held-out split per section); 0: off


def _check_ingest(p: IngestParams) -> list[str]:
    """Ranges of the ingest keys added for real corpora (types are checked by _build)."""
    problems = []
    if p.include is not None and (not p.include or not all(isinstance(g, str) and g for g in p.include)):
        problems.append(
            f"ingest.include: a non-empty list of glob patterns relative to data/raw "
            f"(e.g. ['encyclopedia/person/*']) or null for every file, got {p.include!r}"
        )
    f = p.filters
    for key, value in [
        ("min_alpha_ratio", f.min_alpha_ratio),
        ("max_symbol_ratio", f.max_symbol_ratio),
        ("max_bullet_lines", f.max_bullet_lines),
        ("max_ellipsis_lines", f.max_ellipsis_lines),
        ("max_dup_line_frac", f.max_dup_line_frac),
        ("max_top_2gram_frac", f.max_top_2gram_frac),
        ("max_dup_5gram_frac", f.max_dup_5gram_frac),
        ("max_blob_frac", f.max_blob_frac),
    ]:
        if isinstance(value, (int, float)) and not 0.0 <= value <= 1.0:
            problems.append(f"ingest.filters.{key}: must be in [0, 1], got {value}")
    if isinstance(f.word_len, list) and (len(f.word_len) != 2 or not f.word_len[0] < f.word_len[1]):
        problems.append(f"ingest.filters.word_len: give [low, high] with low < high, got {f.word_len}")
    for key, value, lo in [
        ("max_chars", p.max_chars, 1),
        ("max_file_mb", p.max_file_mb, 1),
        ("shard_mb", p.shard_mb, 1),
        ("workers", p.workers, 1),
    ]:
        if isinstance(value, int) and value < lo:
            problems.append(f"ingest.{key}: must be >= {lo}, got {value}")
    if isinstance(p.max_drop_share, float) and not 0.0 <= p.max_drop_share <= 1.0:
        problems.append(
            f"ingest.max_drop_share: a share of documents or bytes in [0, 1] (1: never warn), got {p.max_drop_share}"
        )
    if isinstance(p.section_chars, int) and p.section_chars < 0:
        problems.append(f"ingest.section_chars: 0 (never split) or a length in characters, got {p.section_chars}")
    if isinstance(p.boilerplate_repeats, int) and (p.boilerplate_repeats < 0 or p.boilerplate_repeats == 1):
        problems.append(f"ingest.boilerplate_repeats: use 0 (off) or >= 2, got {p.boilerplate_repeats}")
    return problems


@dataclass
class QAEndpointParams:
    """An OpenAI-compatible chat-completions endpoint (qa.generator: openai)."""

    base_url: str | None = None  # e.g. https://api.openai.com/v1 or http://127.0.0.1:8000/v1
    model: str | None = None  # model name the endpoint serves
    api_key_env: str | None = "OPENAI_API_KEY"  # NAME of the env var holding the key; null: no auth
    concurrency: int = 4  # requests in flight at once
    timeout_s: float = 60.0  # per request
    max_retries: int = 5  # on 429 / 5xx / timeouts, with exponential backoff


@dataclass
class QAParams:
    generator: Generator = "rules"
    per_doc: int = 8
    types: list[QAType] = field(default_factory=lambda: ["factual", "reasoning", "summarization"])
    paraphrases: int = 0  # extra paraphrased questions per factual pair, training-split docs only
    model: str | None = None  # qa.generator: hf — hub id or local save_pretrained dir
    batch_size: int = 8  # qa.generator: hf — prompts per generate() call
    max_new_tokens: int = 384  # qa.generator: hf/openai — completion budget per prompt
    endpoint: QAEndpointParams = field(default_factory=QAEndpointParams)


@dataclass
class TokenizeParams:
    seq_len: int = 256  # packed block length; must be <= the model context
    batch_rows: int = 1024  # rows per tokenizer call (memory is bounded by one batch)


@dataclass
class MixParams:
    domain: float = 0.92  # token shares of domain, replay, instruct in a documents phase; must sum to 1
    replay: float = 0.06
    instruct: float = 0.02
    qa: float = 0.2  # share of train-split QA in the documents phase of pit / mixed / pit_final_it
    tokens: int | None = 2_000_000  # tokens of the documents phase; null: use domain_epochs
    domain_epochs: float | None = None  # alternative to tokens: passes over domain train tokens
    qa_epochs: float = 3.0  # passes over train-split QA in QA-only phases (pit, it_after_cpt), one pair per sequence
    schedule: MixSchedule = "constant"
    progressive_start: float = 0.5  # progressive: domain share at the start of the documents phase
    doc_attention_mask: bool = False  # true: no attention across documents packed into one block
    seed: int | None = None  # sampling-order seed of the index; null: the top-level seed. Varying only this
    # (not `seed`) gives run-to-run spread without re-ingesting, re-pretraining or re-splitting.
    replay_source: str | None = None  # a folder (txt/jsonl/parquet) or hf:name[:config]@split;
    # null: the folder dvc.yaml gives tokenize@replay (its --input)
    replay_take: int | None = None  # tokens read from the replay source; null: all (local folders only)


@dataclass
class LoraParams:
    r: int = 16
    alpha: int = 32
    dropout: float = 0.05
    target_modules: list[str] = field(default_factory=lambda: ["q_proj", "k_proj", "v_proj", "o_proj"])


@dataclass
class TrainParams:
    recipe: Recipe = "cpt"
    lr: float | None = None  # null: preset from model.kind
    steps: int | None = None  # null: one pass over the mix
    warmup: float = 0.05  # share of each phase's steps spent warming up
    schedule: LRSchedule = "cosine"
    min_lr_ratio: float = 0.1  # decay floor as a share of lr
    batch_size: int = 16
    grad_accum: int = 1
    lora: LoraParams | None = None
    ewc: float = 0.0
    precision: Precision = "auto"
    save_every: int = 0  # steps between resumable checkpoints; 0 = only the final save
    log_every: int = 10
    eval_every: int = 50  # steps between held-out losses (replay, domain); 0 = only at the end
    absorption_questions: int = 64  # factual QA per split (seen, held-out) answered greedily at each eval; 0 = off
    gradient_checkpointing: bool = False  # less activation memory, ~30% more compute
    compile: bool = False  # torch.compile the model (inductor)
    accelerate_config: str | None = None  # accelerate config file: the stage runs under `accelerate launch`


@dataclass
class EvalParams:
    domain_qa: bool = True
    replay_ppl: bool = True
    instruct_follow: bool = True
    lm_eval_tasks: list[str] = field(default_factory=list)
    batch_size: int | Literal["auto"] = 32  # "auto": lm-eval finds the largest that fits
    max_new_tokens: int = 24
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
        return dict(value)
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


def _check_ranges(p: Params) -> list[str]:
    problems: list[str] = []

    def need(cond: bool, msg: str) -> None:
        if not cond:
            problems.append(msg)

    shares = {"domain": p.mix.domain, "replay": p.mix.replay, "instruct": p.mix.instruct}
    if all(isinstance(v, float) for v in shares.values()):
        for k, v in shares.items():
            need(0.0 <= v <= 1.0, f"mix.{k}: share must be in [0, 1], got {v}")
        total = sum(shares.values())
        need(abs(total - 1.0) <= 1e-6, f"mix.domain + mix.replay + mix.instruct must sum to 1 (±1e-6), got {total:.6g}")
    if isinstance(p.mix.qa, float):
        need(0.0 <= p.mix.qa <= 0.9, f"mix.qa: QA share of the documents phase must be in [0, 0.9], got {p.mix.qa}")
        need(
            p.mix.qa > 0 or p.train.recipe not in QA_MIXING_RECIPES,
            f"mix.qa: train.recipe {p.train.recipe!r} mixes QA into the documents phase, so mix.qa must be > 0 "
            f"(e.g. 0.2); for QA first and then documents alone use train.recipe: pit_docs_only",
        )
    if isinstance(p.train.lr, float):
        need(p.train.lr > 0, f"train.lr: must be a positive number or null (preset), got {p.train.lr}")
    if isinstance(p.train.steps, int):
        need(p.train.steps > 0, f"train.steps: must be a positive integer or null, got {p.train.steps}")
    sc = p.model.scratch
    rope = p.model.rope_scaling
    if rope is not None and isinstance(rope.factor, float):
        need(rope.factor > 1.0, f"model.rope_scaling.factor: must be > 1 (the context multiplier), got {rope.factor}")
    if p.model.name_or_path is None and isinstance(p.tokenize.seq_len, int) and isinstance(sc.context, int):
        factor = rope.factor if rope is not None and isinstance(rope.factor, float) else 1.0
        need(
            p.tokenize.seq_len <= int(sc.context * factor),
            f"tokenize.seq_len: {p.tokenize.seq_len} is larger than the model context "
            f"model.scratch.context={sc.context}"
            + (f" x model.rope_scaling.factor={factor:g}" if rope else "")
            + "; lower seq_len, raise context or set model.rope_scaling: {type: yarn, factor: N}",
        )
    for key, value, lo in [
        ("tokenize.seq_len", p.tokenize.seq_len, 8),
        ("mix.tokens", p.mix.tokens, 1),
        ("tokenize.batch_rows", p.tokenize.batch_rows, 1),
        ("mix.replay_take", p.mix.replay_take, 1),
        ("train.batch_size", p.train.batch_size, 1),
        ("train.grad_accum", p.train.grad_accum, 1),
        ("qa.per_doc", p.qa.per_doc, 1),
        ("model.scratch.vocab_size", sc.vocab_size, 100),
        ("model.scratch.hidden_size", sc.hidden_size, 8),
        ("model.scratch.layers", sc.layers, 1),
        ("model.scratch.heads", sc.heads, 1),
        ("model.scratch.pretrain_tokens", sc.pretrain_tokens, 0),
        ("eval.batch_size", p.eval.batch_size, 1),
        ("eval.max_new_tokens", p.eval.max_new_tokens, 1),
        ("ingest.min_chars", p.ingest.min_chars, 0),
        ("ingest.shard_docs", p.ingest.shard_docs, 1),
        ("train.log_every", p.train.log_every, 1),
        ("train.save_every", p.train.save_every, 0),
        ("train.eval_every", p.train.eval_every, 0),
        ("train.absorption_questions", p.train.absorption_questions, 0),
    ]:
        if isinstance(value, int):
            need(value >= lo, f"{key}: must be >= {lo}, got {value}")
    if isinstance(sc.hidden_size, int) and isinstance(sc.heads, int) and sc.heads > 0:
        need(
            sc.hidden_size % sc.heads == 0,
            f"model.scratch.hidden_size ({sc.hidden_size}) must be divisible by model.scratch.heads ({sc.heads})",
        )
    for key, value in [
        ("ingest.heldout_docs", p.ingest.heldout_docs),
        ("train.warmup", p.train.warmup),
        ("train.min_lr_ratio", p.train.min_lr_ratio),
    ]:
        if isinstance(value, float):
            need(0.0 <= value < 1.0, f"{key}: must be in [0, 1), got {value}")
    if isinstance(p.ingest.dedup.near, float):
        need(
            0.0 < p.ingest.dedup.near <= 1.0, f"ingest.dedup.near: must be in (0, 1] or null, got {p.ingest.dedup.near}"
        )
    if isinstance(sc.instruct_epochs, int):
        need(sc.instruct_epochs >= 1, f"model.scratch.instruct_epochs: must be >= 1, got {sc.instruct_epochs}")
    if isinstance(sc.instruct_copy_rows, int):
        need(sc.instruct_copy_rows >= 0, f"model.scratch.instruct_copy_rows: must be >= 0, got {sc.instruct_copy_rows}")
    if isinstance(sc.instruct_lr, float):
        need(sc.instruct_lr > 0, f"model.scratch.instruct_lr: must be a positive number, got {sc.instruct_lr}")
    if isinstance(sc.instruct_replay, float):
        need(
            0.0 <= sc.instruct_replay < 1.0,
            f"model.scratch.instruct_replay: must be in [0, 1), got {sc.instruct_replay}",
        )
    if isinstance(sc.instruct_fresh_words, float):
        need(
            0.0 <= sc.instruct_fresh_words <= 1.0,
            f"model.scratch.instruct_fresh_words: must be in [0, 1], got {sc.instruct_fresh_words}",
        )
    if isinstance(p.train.ewc, float):
        need(p.train.ewc >= 0, f"train.ewc: must be >= 0, got {p.train.ewc}")
    if isinstance(p.train.accelerate_config, str):
        need(
            Path(p.train.accelerate_config).is_file(),
            f"train.accelerate_config: {p.train.accelerate_config} is not a file; write one with "
            "`accelerate config --config_file <path>` or set null for one local process",
        )
    if isinstance(p.mix.qa_epochs, float):
        need(p.mix.qa_epochs > 0, f"mix.qa_epochs: must be > 0, got {p.mix.qa_epochs}")
    problems.extend(_check_mix(p.mix))
    problems.extend(_check_ingest(p.ingest))
    if isinstance(p.qa.types, list):
        need(len(p.qa.types) > 0, "qa.types: list at least one of factual, reasoning, summarization")
    for key, value, lo in [
        ("qa.paraphrases", p.qa.paraphrases, 0),
        ("qa.batch_size", p.qa.batch_size, 1),
        ("qa.max_new_tokens", p.qa.max_new_tokens, 16),
        ("qa.endpoint.concurrency", p.qa.endpoint.concurrency, 1),
        ("qa.endpoint.max_retries", p.qa.endpoint.max_retries, 0),
    ]:
        if isinstance(value, int):
            need(value >= lo, f"{key}: must be >= {lo}, got {value}")
    if isinstance(p.qa.endpoint.timeout_s, float):
        need(p.qa.endpoint.timeout_s > 0, f"qa.endpoint.timeout_s: must be > 0 seconds, got {p.qa.endpoint.timeout_s}")
    if p.qa.generator == "hf":
        need(
            isinstance(p.qa.model, str) and bool(p.qa.model),
            "qa.model: qa.generator 'hf' needs a hub id or a local save_pretrained directory",
        )
    if p.qa.generator == "openai":
        ep = p.qa.endpoint
        need(
            isinstance(ep.base_url, str) and ep.base_url.startswith(("http://", "https://")),
            "qa.endpoint.base_url: qa.generator 'openai' needs an http(s) URL of an OpenAI-compatible API, "
            f"got {ep.base_url!r}",
        )
        need(
            isinstance(ep.model, str) and bool(ep.model),
            "qa.endpoint.model: qa.generator 'openai' needs the model name the endpoint serves",
        )
        need(
            ep.api_key_env is None or (isinstance(ep.api_key_env, str) and ep.api_key_env.isidentifier()),
            "qa.endpoint.api_key_env: the NAME of an environment variable (never the key itself) or null, "
            "got a value that is not a variable name",
        )
    return problems


def _check_mix(m: MixParams) -> list[str]:
    """Budget size (tokens xor domain_epochs), progressive schedule and replay source."""
    problems = []
    if (m.tokens is None) == (m.domain_epochs is None):
        problems.append(
            "mix.tokens / mix.domain_epochs: set exactly one, the other null "
            "(e.g. -S mix.tokens=null -S mix.domain_epochs=2)"
        )
    if isinstance(m.domain_epochs, float):
        if m.domain_epochs <= 0:
            problems.append(f"mix.domain_epochs: must be > 0, got {m.domain_epochs}")
        elif isinstance(m.domain, float) and m.domain <= 0:
            problems.append("mix.domain_epochs: needs mix.domain > 0 (the budget is domain tokens / mix.domain)")
    if isinstance(m.progressive_start, float) and not 0.0 <= m.progressive_start <= 1.0:
        problems.append(f"mix.progressive_start: must be in [0, 1], got {m.progressive_start}")
    if (
        m.schedule == "progressive"
        and isinstance(m.progressive_start, float)
        and isinstance(m.domain, float)
        and m.progressive_start > m.domain
    ):
        problems.append(
            f"mix.progressive_start: {m.progressive_start} is above mix.domain={m.domain}; "
            "a progressive schedule ramps the domain share up"
        )
    if isinstance(m.replay_source, str):
        if m.replay_source.startswith("hf:"):
            name, at, split = m.replay_source[3:].rpartition("@")
            if not (at and name and split):
                problems.append(f"mix.replay_source: {m.replay_source!r} is not hf:name[:config]@split")
            if m.replay_take is None:
                problems.append(
                    "mix.replay_take: an hf: replay source is streamed; say how many tokens to take "
                    "(e.g. 2x mix.tokens x mix.replay)"
                )
        elif not m.replay_source.strip():
            problems.append("mix.replay_source: empty; use a local folder or hf:name[:config]@split")
    return problems


def parse_params(raw: Any, path: str = "params.yaml") -> Params:
    """Validate a params mapping; raise ParamsError listing every problem."""
    problems: list[str] = []
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ParamsError([f"top level must be a mapping, got {type(raw).__name__}"], path)
    params = _build(Params, raw, "", problems)
    if not problems:
        problems.extend(_check_ranges(params))
    else:
        # Range checks on half-built params could repeat type errors; run them only on sane fields.
        with contextlib.suppress(Exception):  # the type errors above already explain the cause
            problems.extend(
                p for p in _check_ranges(params) if p.split(":")[0] not in {q.split(":")[0] for q in problems}
            )
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


@dataclass(frozen=True)
class ResolvedLR:
    lr: float
    source: str  # "params" or "preset:<kind>"
    low: float
    high: float
    warning: str | None


def resolve_lr(train: TrainParams, kind: str) -> ResolvedLR:
    """The LR that really runs: train.lr, or the preset of model.kind; warn outside the kind's range."""
    preset = LR_PRESETS[kind]
    if train.lr is None:
        return ResolvedLR(preset["default"], f"preset:{kind}", preset["low"], preset["high"], None)
    warning = None
    if not preset["low"] <= train.lr <= preset["high"]:
        warning = (
            f"train.lr={train.lr:g} is outside the recommended range for a {kind} model "
            f"({preset['low']:g}..{preset['high']:g})"
        )
    return ResolvedLR(train.lr, "params", preset["low"], preset["high"], warning)

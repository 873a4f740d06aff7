"""The sections of params.yaml: one dataclass per section (and per nested mapping), each field with its default,
its allowed range and a comment. `params.yaml` section `mix` <-> `MixParams`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from cptpipe.optim import MIN_LR_RATIO
from cptpipe.params.schema import bounded, share

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
    # a GGUF file inside the name_or_path directory (dequantized to fp32); any name, e.g. an Ollama blob
    gguf_file: str | None = None
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
    # true: a phase of QA and no documents packs its pairs into tokenize.seq_len blocks, each pair attending
    # to itself only (block-causal mask): ~seq_len / pair length pairs per sequence, so fewer, denser steps
    pack_pairs: bool = False
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
    # used when lr is null: one number, or one per LR preset ({default: 0.1, base: 0.34, instruct: 0.4})
    # so that a recipe's phase sits inside every start kind's range
    lr_scale: float | dict[str, float] = bounded(1.0, gt=0)
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
    # true: phase LRs outside the start kind's preset range run (with a warning) instead of failing validation
    lr_outside_range: bool = False
    steps: int | None = bounded(None, gt=0)  # null: one pass over the mix
    warmup: float = bounded(0.05, ge=0, lt=1)  # share of each phase's steps spent warming up
    schedule: LRSchedule = "cosine"
    min_lr_ratio: float = bounded(MIN_LR_RATIO, ge=0, lt=1)  # decay floor as a share of lr
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
    instruct_follow: bool = True  # IFEval-style held-out requests (data/instruct/follow.jsonl)
    instruct_drills: bool = True  # the scratch instruct start's held-out drills (data/instruct/heldout.jsonl)
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

"""The train stage: start model + mix index -> models/cpt, curves in reports/train."""

from __future__ import annotations

import json
import math
import shutil
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import torch

from cptpipe.data.tokens import TokenSource, pack_stream
from cptpipe.errors import UserError
from cptpipe.io import write_json
from cptpipe.metric_table import curve, with_role
from cptpipe.mix.plan import MixBlocks
from cptpipe.model.context import check_context
from cptpipe.model.residual import add_residual, load_residual, residual_in_start
from cptpipe.model.scratch import apply_rope_scaling
from cptpipe.model.start import load_model, load_tokenizer, model_location, start_info, start_tokenizer
from cptpipe.params import Params, PhaseSchedule, ResolvedLR, resolve_phase_lrs, start_lr_kind, to_dict
from cptpipe.timings import split_timings
from cptpipe.train import checkpoint
from cptpipe.train.absorption import AbsorptionProbes
from cptpipe.train.adaptive import RATIO, AdaptivePools, FixedShare, ReplayController, ReplaySteering, perplexity_ratio
from cptpipe.train.blocks import ArrayBlocks
from cptpipe.train.ewc import EWCPenalty
from cptpipe.train.interleave import Interleaved
from cptpipe.train.loop import LoopConfig, Phase, process_state, resolve_precision, train_phases

EWC_BLOCKS = 32
EVAL_BLOCKS = 16  # held-out blocks per source for the eval curves (cheap: a few forward passes)
REPLAY_LOSS = curve(with_role("forgetting").source)  # the replay set's held-out loss (metrics.yaml)
# summary keys that vary run to run: returned (the stage logs them), never written to summary.json
TIMED = ("seconds", "tokens_per_second", "ewc_fisher_seconds", "absorption.seconds")


def start_kind(start_dir: Path, default: str) -> str:
    """The start model's kind: scratch models tuned on instructions count as instruct."""
    return start_info(start_dir).get("kind", default)


def steps_per_phase(blocks: list[int], per_step: int, cap: int | None) -> list[int]:
    """One pass over each phase's blocks; a train.steps cap scales every phase proportionally."""
    steps = [max(1, math.ceil(b / per_step)) for b in blocks]
    if cap is not None and cap < sum(steps):
        scaled = [max(1, int(s * cap / sum(steps))) for s in steps]
        scaled[-1] = max(1, cap - sum(scaled[:-1]))
        return scaled
    return steps


def apply_lora(model, lora):
    from peft import LoraConfig, get_peft_model

    cfg = LoraConfig(
        r=lora.r,
        lora_alpha=lora.alpha,
        lora_dropout=lora.dropout,
        target_modules=list(lora.target_modules),
        task_type="CAUSAL_LM",
    )
    return get_peft_model(model, cfg)


def training_start(start_dir: Path, params: Params) -> tuple[str, bool]:
    """The kind whose LR preset applies, and whether the base under an instruct start is trained: with
    train.instruct_residual on a scratch instruct start that keeps its residual (start - residual, at
    the base's preset; the residual is added back after training)."""
    under = params.train.instruct_residual > 0 and residual_in_start(start_dir)
    return ("base" if under else start_kind(start_dir, params.model.kind)), under


def load_start(start_dir: Path, rope_scaling, seq_len: int, passkey_lengths=(), under: bool = False):
    """The start model, with model.rope_scaling applied to its config before the weights load; `under`:
    the base under an instruct start (start - its residual).

    The context is checked first (seq_len and passkey lengths against the context x rope factor),
    and the weights' size against RAM, so a bad setting fails before any weight is read.
    """
    from transformers import AutoConfig

    where, rev = model_location(start_dir)
    config = AutoConfig.from_pretrained(where, revision=rev)
    check_context(
        config,
        seq_len=seq_len,
        passkey_lengths=passkey_lengths,
        rope_factor=None if rope_scaling is None else rope_scaling.factor,
    )
    if rope_scaling is not None:
        apply_rope_scaling(config, rope_scaling)
    model = load_model(start_dir, dtype=torch.float32, config=config)
    if under:
        add_residual(model, load_residual(start_dir), -1.0)
    return model


def packed_rows(tokens_dir: Path, source: str, split: str, seq_len: int, n_blocks: int, seed: int) -> np.ndarray | None:
    """Up to n_blocks blocks of one source's rows of one split, joined in a seeded order."""
    if not (tokens_dir / source / "meta.json").exists():
        return None
    src = TokenSource(tokens_dir / source)
    rows = src.row_arrays()
    lists = [
        src.tokens[o : o + n].astype(np.int64).tolist()
        for o, n, s in zip(rows["offset"], rows["length"], rows["split"])
        if s == split
    ]
    if not lists:
        return None
    eos = lists[0][-1]  # every row ends with EOS; pack_stream re-adds one between rows
    lists = [t[:-1] for t in lists]
    n_tokens = min(n_blocks * seq_len, sum(len(t) + 1 for t in lists))
    return pack_stream(lists, eos, seq_len, n_tokens, seed)


def replay_batches(tokens_dir: Path, seq_len: int, n_blocks: int, batch: int, seed: int):
    blocks = torch.as_tensor(packed_rows(tokens_dir, "replay", "train", seq_len, n_blocks, seed))
    return [{"input_ids": b, "labels": b} for b in blocks.split(batch)]


def eval_sets(tokens_dir: Path, seq_len: int, seed: int) -> dict[str, ArrayBlocks]:
    """Held-out replay (forgetting; never trained on) and the held-out-QA documents (absorption: these
    documents are trained on, their questions are what eval asks)."""
    out = {}
    for source in ("replay", "domain"):
        blocks = packed_rows(tokens_dir, source, "heldout", seq_len, EVAL_BLOCKS, seed)
        if blocks is not None:
            out[source] = ArrayBlocks(blocks)
    return out


def adaptive_pools(mix_dir: Path, tokens_dir: Path, entry: dict, pad_id: int) -> AdaptivePools:
    """The documents of an adaptive phase: its per-source pools, drawn by the steered shares with the
    seed the mix stage drew (so mix.seed varies the draws as it varies the sampling)."""
    spec = entry["adaptive"]
    mask = entry["doc_attention_mask"]  # one setting for every pool: blocks of all pools meet in a batch
    pools = {
        name: MixBlocks(mix_dir / pool["file"], tokens_dir, entry["seq_len"], pad_id, doc_attention_mask=mask)
        for name, pool in spec["pools"].items()
    }
    return AdaptivePools(pools, spec["start_shares"], entry["blocks"], spec["seed"])


def phase_data(mix_dir: Path, tokens_dir: Path, entry: dict, seq_len: int, pad_id: int, batch_size: int):
    """The Dataset of one phases.json entry: its blocks (drawn from pools in an adaptive phase), with
    the QA blocks of a documents + QA phase interleaved micro-batch by micro-batch."""
    if "adaptive" in entry:
        data = adaptive_pools(mix_dir, tokens_dir, entry, pad_id)
    else:
        data = MixBlocks(mix_dir / entry["file"], tokens_dir, entry.get("seq_len", seq_len), pad_id)
    if "interleave" not in entry:
        return data
    qa = MixBlocks(mix_dir / entry["interleave"]["file"], tokens_dir, entry["interleave"]["seq_len"], pad_id)
    return Interleaved(data, qa, batch_size)


def steer_phase(phase: Phase, entry: dict, measured: bool) -> None:
    """An adaptive phase's controller (the replay share steered by the forgetting budget); a fixed
    documents phase logs its replay share beside it."""
    data = phase.data
    docs = data.a if isinstance(data, Interleaved) else data
    if "adaptive" not in entry:
        if "domain" in docs.names:
            sources = phase_sources(docs, len(docs))
            phase.steer = FixedShare(sources.get("replay", 0) / max(1, sum(sources.values())))
        return
    if not measured:
        raise UserError(
            "mix.schedule: adaptive measures forgetting on held-out replay text, and data/tokens/replay has "
            "no heldout rows; check the replay source (mix.replay_source) or use a constant schedule"
        )
    spec = entry["adaptive"]
    low, high = spec["replay_bounds"]
    controller = ReplayController(spec["forgetting_budget"], low, high, spec["start_shares"]["replay"])
    phase.steer = ReplaySteering(docs, controller, data.a_items if docs is not data else (lambda n: n))


def forgetting(tokens_per_word: float):
    """against_start for the loop: the replay word-perplexity ratio (cpt / start) at each eval."""

    def ratio(values: Mapping[str, float], start: Mapping[str, float]) -> dict[str, float]:
        return {RATIO: round(perplexity_ratio(values[REPLAY_LOSS], start[REPLAY_LOSS], tokens_per_word), 6)}

    return ratio


def steer_phases(phases: list[Phase], mix_dir: Path, measured: bool) -> None:
    """Give each documents phase of phases.json its steering (see steer_phase)."""
    entries = json.loads((mix_dir / "phases.json").read_text())["phases"]
    for phase, entry in zip(phases, entries):
        steer_phase(phase, entry, measured)


def held_out_setup(phases: list[Phase], mix_dir: Path, tokens_dir: Path, seq_len: int, seed: int, tok):
    """The held-out sets, the forgetting ratio against the start model (None without held-out replay)
    and each documents phase's steering."""
    held_out = eval_sets(tokens_dir, seq_len, seed)
    per_word = tokens_per_word(held_out.get("replay"), tok)
    steer_phases(phases, mix_dir, per_word is not None)
    return held_out, None if per_word is None else forgetting(per_word)


def tokens_per_word(blocks, tok) -> float | None:
    """Tokens per whitespace-separated word of held-out replay blocks, as lm-eval counts words for
    word_perplexity (None without the blocks)."""
    if blocks is None or not len(blocks):
        return None
    ids = blocks.blocks
    words = sum(len(tok.decode(row, skip_special_tokens=True).split()) for row in ids.tolist())
    return ids.numel() / max(1, words)


def record_phases(result, phases: list[Phase], lrs: dict[str, ResolvedLR], t) -> None:
    """Each finished phase's record gains the tokens it drew per source, its LR's source and, for an
    adaptive phase, what the controller did."""
    per_step = t.batch_size * t.grad_accum * result.world_size
    for ph, phase in zip(result.phases, phases):
        items = ph["steps"] * per_step
        ph["sources"] = phase_sources(phase.data, items)
        ph["lr_source"] = lrs[phase.name].source
        if isinstance(phase.steer, ReplaySteering):
            ph["adaptive"] = phase.steer.describe(items)


def phase_sources(data, items: int) -> dict[str, int]:
    """Tokens per source in one phase (what the phase really trains on); an adaptive phase's drawn
    blocks, after the loop read `items` items of it."""
    parts = [data.a, data.b] if isinstance(data, Interleaved) else [data]
    out: dict[str, int] = {}
    for part in parts:  # per source code: no array of names per segment
        if isinstance(part, AdaptivePools):
            used = part.realised(data.a_items(items) if part is not data else items)
            out.update({k: v["tokens"] for k, v in used.items() if v["tokens"]})
            continue
        segments = np.bincount(part.codes, minlength=len(part.names))
        tokens = np.bincount(part.codes, weights=part.length, minlength=len(part.names))
        for name in sorted(n for n, k in zip(part.names, segments) if k):
            out[name] = out.get(name, 0) + int(tokens[part.names.index(name)])
    return dict(sorted(out.items()))


def resolve_lrs(params: Params, kind: str, main: bool) -> dict[str, ResolvedLR]:
    """Each phase's LR in the start's own kind's range (a scratch start tuned on instructions is
    "instruct"); outside it only when that kind differs from model.kind, which validation checked."""
    lrs = resolve_phase_lrs(params, kind)
    for name, lr in lrs.items():
        if lr.problem and main:
            print(f"warning: phase {name}: {lr.problem}")
    return lrs


def final_weights(model, t, start_dir: Path, summary: dict, under: bool = False):
    """The weights to save: LoRA merged, scale x (instruct - base) of models/start added (recorded in
    summary) when train.instruct_residual is set; `under`: the base under an instruct start was trained."""
    if t.lora is not None:
        model = model.merge_and_unload()
    if t.instruct_residual > 0:
        residual = load_residual(start_dir)
        summary["instruct_residual"] = {
            "scale": t.instruct_residual,
            "trained": "base under the instruct start" if under else "start",
            "tensors": add_residual(model, residual, t.instruct_residual),
        }
    return model


def checkpoint_dir(params: Params, root: Path, start_dir: Path, mix_dir: Path, tokens_dir: Path) -> Path:
    extra = {"model.kind": params.model.kind, "model.rope_scaling": to_dict(params.model).get("rope_scaling")}
    return root / checkpoint.fingerprint(
        to_dict(params.train),
        seed=params.seed,
        extra=extra,
        start_dir=start_dir,
        mix_dir=mix_dir,
        tokens_dir=tokens_dir,
    )


def recipe_phases(
    mix_dir: Path, tokens_dir: Path, t, recipe, lrs: dict[str, ResolvedLR], pad_id: int
) -> tuple[list[Phase], int]:
    """The loop's phases of data/mix's phases.json (their datasets, step counts and the recipe's
    schedule of each) and the block length."""
    meta = json.loads((mix_dir / "phases.json").read_text())
    seq_len = meta["seq_len"]
    names = [ph["name"] for ph in meta["phases"]]
    if names != list(recipe.phases):
        raise RuntimeError(
            f"{mix_dir}/phases.json has phases {names}, recipes.{t.recipe} has {list(recipe.phases)}; "
            "run `dvc repro mix` first"
        )
    datasets = [phase_data(mix_dir, tokens_dir, ph, seq_len, pad_id, t.batch_size) for ph in meta["phases"]]
    steps = steps_per_phase([len(d) for d in datasets], t.batch_size * t.grad_accum, t.steps)
    phases = []
    for name, data, n in zip(names, datasets, steps):
        sched = recipe.schedule.get(name, PhaseSchedule())
        phases.append(Phase(name, data, n, lrs[name].lr, sched.warmup, sched.decay))
    return phases, seq_len


def live_logger(live_dir: Path):
    """dvclive curves in live_dir: a log function for the loop's points, and the Live object."""
    from dvclive import Live

    live = Live(str(live_dir), dvcyaml=False, save_dvc_exp=False, report=None)

    def log(point: dict) -> None:
        live.step = point["step"]
        for k, v in point.items():
            if k not in ("step", "phase"):
                live.log_metric(k if "/" in k else f"train/{k}", v)

    return log, live


def train_summary(params: Params, kind: str, lrs: dict[str, ResolvedLR], result, seq_len: int, extra: dict) -> dict:
    """reports/train/summary.json (less TIMED): what ran, how fast, and the last held-out losses and probes."""
    t = params.train
    first = next(iter(lrs.values()))
    return {
        "recipe": t.recipe,
        "start_kind": kind,
        "lr": first.lr,  # the first phase's; every phase's LR and its source are in "phases"
        "lr_source": first.source,
        "lr_range": [first.low, first.high],
        "lr_preset": start_lr_kind(params.model, kind),  # the range's LR_PRESETS key
        "warnings": [f"phase {n}: {v.problem}" for n, v in lrs.items() if v.problem],
        "steps": result.steps,
        "tokens": result.tokens,
        "final_loss": round(result.final_loss, 4),
        "seconds": result.seconds,
        "tokens_per_second": round(result.tokens / max(result.seconds, 1e-9), 1),
        "phases": result.phases,
        "precision": resolve_precision(t.precision),
        "batch_size": t.batch_size,
        "grad_accum": t.grad_accum,
        "seq_len": seq_len,
        "world_size": result.world_size,
        "global_batch": t.batch_size * t.grad_accum * result.world_size,
        "lora": None if t.lora is None else vars(t.lora),
        "ewc": t.ewc,
        "eval": result.eval,
        "resumed_from_step": result.resumed_from,
        "rope_scaling": to_dict(params.model).get("rope_scaling"),
        "gradient_checkpointing": t.gradient_checkpointing,
        "compile": t.compile,
        **extra,
    }


def run_train(
    params: Params,
    start_dir: Path,
    mix_dir: Path,
    tokens_dir: Path,
    out_dir: Path,
    live_dir: Path,
    ckpt_root: Path | None = Path("checkpoints/train"),
) -> dict:
    """Train the recipe's phases; on the main process write out_dir, live_dir curves and summary.json.

    With train.save_every > 0, checkpoints go to ckpt_root/<fingerprint>/ and a rerun resumes
    from the newest; they are deleted once the final model is saved.
    """
    t = params.train
    main = process_state().is_main_process
    kind, under = training_start(start_dir, params)
    recipe = params.recipes[t.recipe]
    lrs = resolve_lrs(params, kind, main)
    tok = load_tokenizer(start_dir)
    phases, seq_len = recipe_phases(mix_dir, tokens_dir, t, recipe, lrs, tok.pad_token_id)
    held_out, against_start = held_out_setup(phases, mix_dir, tokens_dir, seq_len, params.seed, tok)
    model = load_start(start_dir, params.model.rope_scaling, seq_len, params.eval.passkey_lengths, under)
    penalty = None
    if t.ewc > 0:
        penalty = EWCPenalty(model, replay_batches(tokens_dir, seq_len, EWC_BLOCKS, t.batch_size, params.seed), t.ewc)
    if t.lora is not None:
        model = apply_lora(model, t.lora)
    saving = t.save_every > 0 and ckpt_root is not None
    ckpt_dir = checkpoint_dir(params, ckpt_root, start_dir, mix_dir, tokens_dir) if saving else None
    log, live = live_logger(live_dir) if main else (None, None)
    absorption = AbsorptionProbes(tokens_dir, tok, t.absorption_questions, params.seed)
    result = train_phases(
        model,
        phases,
        LoopConfig.from_params(t, seed=params.seed, ckpt_dir=ckpt_dir),
        log=log,
        penalty=penalty,
        desc=f"train: {t.recipe}",
        eval_sets=held_out,
        probes=absorption.callables(),
        against_start=against_start,
    )
    record_phases(result, phases, lrs, t)
    extra = {"ewc_fisher_seconds": penalty.seconds if penalty else 0.0, "absorption": absorption.describe()}
    summary = train_summary(params, kind, lrs, result, seq_len, extra)
    if not main:
        return summary
    model = final_weights(model, t, start_dir, summary, under)
    model.save_pretrained(out_dir, safe_serialization=True)
    start_tokenizer(start_dir).save_pretrained(out_dir)  # as shipped: no pad token added, chat template kept
    live.summary.update(
        {"final_loss": summary["final_loss"], "steps": result.steps, "tokens": result.tokens, **result.eval}
    )
    live.end()
    write_json(live_dir / "summary.json", split_timings(summary, TIMED)[0])
    if ckpt_dir is not None:  # the final model is saved: intermediate checkpoints are no longer needed
        shutil.rmtree(ckpt_dir, ignore_errors=True)
    return summary

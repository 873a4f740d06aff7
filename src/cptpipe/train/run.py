"""The train stage: start model + mix index -> models/cpt, curves in reports/train."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import torch

from cptpipe.data.tokens import TokenSource
from cptpipe.mix.build import MixBlocks
from cptpipe.model.scratch import pack_stream
from cptpipe.model.start import PIN_FILE, load_model, load_tokenizer
from cptpipe.params import Params, resolve_lr
from cptpipe.train.ewc import EWCPenalty
from cptpipe.train.loop import LoopConfig, Phase, resolve_precision, train_phases

EWC_BLOCKS = 32


def start_kind(start_dir: Path, default: str) -> str:
    """The start model's kind: scratch models tuned on instructions count as instruct."""
    for name in ("START.json", PIN_FILE):
        f = start_dir / name
        if f.exists():
            return json.loads(f.read_text()).get("kind", default)
    return default


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

    cfg = LoraConfig(r=lora.r, lora_alpha=lora.alpha, lora_dropout=lora.dropout,
                     target_modules=list(lora.target_modules), task_type="CAUSAL_LM")
    return get_peft_model(model, cfg)


def replay_batches(tokens_dir: Path, seq_len: int, n_blocks: int, batch: int, seed: int):
    src = TokenSource(tokens_dir / "replay")
    rows = src.row_arrays()
    lists = [src.tokens[o:o + n].astype(np.int64).tolist()
             for o, n, s in zip(rows["offset"], rows["length"], rows["split"]) if s == "train"]
    blocks = torch.as_tensor(pack_stream(lists, int(src.tokens[rows["offset"][0] + rows["length"][0] - 1]),
                                         seq_len, n_blocks * seq_len, seed))
    return [{"input_ids": b, "labels": b} for b in blocks.split(batch)]


def run_train(params: Params, start_dir: Path, mix_dir: Path, tokens_dir: Path, out_dir: Path,
              live_dir: Path) -> dict:
    from dvclive import Live

    t = params.train
    kind = start_kind(start_dir, params.model.kind)
    lr = resolve_lr(t, kind)
    if lr.warning:
        print(f"warning: {lr.warning}")
    tok = load_tokenizer(start_dir)
    model = load_model(start_dir)
    meta = json.loads((mix_dir / "phases.json").read_text())
    seq_len = meta["seq_len"]
    datasets = [MixBlocks(mix_dir / ph["file"], tokens_dir, seq_len, tok.pad_token_id) for ph in meta["phases"]]
    steps = steps_per_phase([len(d) for d in datasets], t.batch_size * t.grad_accum, t.steps)
    phases = [Phase(ph["name"], d, s, lr.lr) for ph, d, s in zip(meta["phases"], datasets, steps)]
    penalty = None
    ewc_seconds = 0.0
    if t.ewc > 0:
        penalty = EWCPenalty(model, replay_batches(tokens_dir, seq_len, EWC_BLOCKS, t.batch_size, params.seed), t.ewc)
        ewc_seconds = penalty.seconds
    if t.lora is not None:
        model = apply_lora(model, t.lora)
    cfg = LoopConfig(batch_size=t.batch_size, grad_accum=t.grad_accum, warmup=t.warmup, schedule=t.schedule,
                     min_lr_ratio=t.min_lr_ratio, precision=t.precision, seed=params.seed, log_every=t.log_every)
    live = Live(str(live_dir), dvcyaml=False, save_dvc_exp=False, report=None)

    def log(point: dict) -> None:
        live.step = point["step"]
        for k in ("loss", "lr", "tokens", "grad_norm"):
            live.log_metric(f"train/{k}", point[k])

    result = train_phases(model, phases, cfg, log=log, penalty=penalty, desc=f"train: {t.recipe}")
    if t.lora is not None:
        model = model.merge_and_unload()
    model.save_pretrained(out_dir, safe_serialization=True)
    tok.save_pretrained(out_dir)
    summary = {
        "recipe": t.recipe, "start_kind": kind, "lr": lr.lr, "lr_source": lr.source,
        "lr_range": [lr.low, lr.high], "warnings": [lr.warning] if lr.warning else [],
        "steps": result.steps, "tokens": result.tokens, "final_loss": round(result.final_loss, 4),
        "seconds": result.seconds, "tokens_per_second": round(result.tokens / max(result.seconds, 1e-9), 1),
        "phases": result.phases, "precision": resolve_precision(t.precision),
        "batch_size": t.batch_size, "grad_accum": t.grad_accum, "seq_len": seq_len,
        "lora": None if t.lora is None else vars(t.lora), "ewc": t.ewc, "ewc_fisher_seconds": ewc_seconds,
    }
    live.summary.update({"final_loss": summary["final_loss"], "steps": result.steps, "tokens": result.tokens})
    live.end()
    (live_dir / "summary.json").write_text(json.dumps(summary, indent=2, sort_keys=True) + "\n")
    return summary

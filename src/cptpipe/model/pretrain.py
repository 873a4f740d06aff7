"""Pretraining of the scratch start model with transformers' Trainer.

The `train` stage has its own loop (recipes of phases, resume, EWC, absorption probes); the start
model needs none of that, and keeping the `model` stage off that loop means an edit of it never
re-pretrains the start model. Each phase is one Trainer run over its rows in a seeded order, with
its own warmup and cosine decay to a tenth of its peak LR.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass

import numpy as np

from cptpipe.determinism import deterministic_torch, one_cpu_thread
from cptpipe.optim import BETAS, MAX_GRAD_NORM, MIN_LR_RATIO, WEIGHT_DECAY

WARMUP = 0.05  # share of a phase's steps spent warming up
LOG_EVERY = 50


@dataclass
class PretrainPhase:
    name: str
    rows: list[tuple[list[int], list[int]]]  # (token ids, loss mask 0/1) per row
    lr: float
    batch_size: int  # rows per optimizer step


def block_rows(blocks: np.ndarray) -> list[tuple[list[int], list[int]]]:
    """Rows of token blocks [n, seq_len], every token with loss (plain LM pretraining)."""
    return [(b.tolist(), [1] * len(b)) for b in blocks]


def as_dataset(rows: list[tuple[list[int], list[int]]], max_len: int):
    """A `datasets.Dataset` of input_ids and labels (-100 where the mask is 0), cut to max_len."""
    from datasets import Dataset

    return Dataset.from_dict(
        {
            "input_ids": [ids[:max_len] for ids, _ in rows],
            "labels": [[t if m else -100 for t, m in zip(ids[:max_len], mask[:max_len])] for ids, mask in rows],
        }
    )


def run_phase(model, tokenizer, phase: PretrainPhase, *, max_len: int, seed: int) -> dict:
    """One phase as a Trainer run; returns its summary (steps, tokens with loss, last logged loss).

    The collator pads each batch to its own longest row (instruction rows are ~35 tokens; padding
    them to the context made a step several times dearer than its real tokens).
    """
    import torch
    from transformers import DataCollatorForSeq2Seq, Trainer, TrainingArguments

    # not TrainingArguments(full_determinism=True): it fails on a GPU op without a deterministic kernel
    deterministic_torch()
    data = as_dataset(phase.rows, max_len)
    with tempfile.TemporaryDirectory(prefix="cptpipe-pretrain-") as tmp:
        args = TrainingArguments(
            output_dir=tmp,
            per_device_train_batch_size=phase.batch_size,
            num_train_epochs=1,
            learning_rate=phase.lr,
            lr_scheduler_type="cosine_with_min_lr",
            lr_scheduler_kwargs={"min_lr_rate": MIN_LR_RATIO},
            warmup_steps=WARMUP,
            weight_decay=WEIGHT_DECAY,
            adam_beta2=BETAS[1],  # beta1 and eps: the Trainer's defaults, BETAS[0] and EPS
            max_grad_norm=MAX_GRAD_NORM,
            logging_steps=LOG_EVERY,
            save_strategy="no",
            report_to="none",
            seed=seed,
            data_seed=seed,
            remove_unused_columns=False,
            use_cpu=not torch.cuda.is_available(),
            dataloader_num_workers=0,
        )
        collate = DataCollatorForSeq2Seq(tokenizer, padding=True, label_pad_token_id=-100)
        trainer = Trainer(model=model, args=args, train_dataset=data, data_collator=collate)
        with one_cpu_thread():  # the same bytes whatever OMP_NUM_THREADS is (determinism.one_cpu_thread)
            out = trainer.train()
        losses = [h["loss"] for h in trainer.state.log_history if "loss" in h]
    model.eval()
    return {
        "name": phase.name,
        "steps": out.global_step,
        "lr": phase.lr,
        "rows": len(phase.rows),
        "tokens": int(sum(sum(m[:max_len]) for _, m in phase.rows)),
        "final_loss": round(float(losses[-1] if losses else out.training_loss), 4),
    }


def pretrain(model, tokenizer, phases: list[PretrainPhase], *, max_len: int, seed: int) -> list[dict]:
    """Run the phases in order on `model` (in place); one summary per phase."""
    return [run_phase(model, tokenizer, ph, max_len=max_len, seed=seed) for ph in phases]

"""The absorption curve: greedy exact match on a fixed few seen / held-out factual questions while training.

Rows come from data/tokens/qa exactly as training sees them (prompt tokens with mask 0, answer tokens
with mask 1, then EOS), so the probe asks in the trained format with no re-tokenizing. Seen questions
are of the train split (memorization); held-out ones are of documents the model trains on but whose
QA it never sees (extraction: what eval@cpt's domain_qa.em measures at the end).
"""

from __future__ import annotations

import inspect
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from cptpipe.answers import exact_match
from cptpipe.data.tokens import TokenSource
from cptpipe.prompts import stop_sequences

FACTUAL = "factual"
SPLITS = {"seen_em": "train", "heldout_em": "heldout"}  # curve name -> QA split
BATCH = 64  # questions per greedy batch: short rows (prompt + answer, ~50 tokens), no gradients


@dataclass
class QAProbe:
    prompts: list[list[int]]
    answers: list[list[int]]  # gold answer ids without the closing EOS
    eos: int


def probe_rows(rows: dict[str, np.ndarray], split: str, n: int, seed: int, kind: str = FACTUAL) -> np.ndarray:
    """Row indices of up to n `kind` questions of `split`: a seeded pick, in row order (a larger n is a superset)."""
    idx = np.flatnonzero((rows["split"] == split) & (rows["kind"] == kind))
    return np.sort(np.random.default_rng(seed).permutation(idx)[:n])


def load_probe(src: TokenSource, split: str, n: int, seed: int) -> QAProbe | None:
    """The prompt and gold answer ids of the probe's rows; None when the split has no factual rows."""
    rows = src.row_arrays()
    prompts, answers, eos = [], [], None
    for i in probe_rows(rows, split, n, seed):
        o, length = int(rows["offset"][i]), int(rows["length"][i])
        ids = np.asarray(src.tokens[o : o + length], np.int64)
        first = int(np.argmax(np.asarray(src.mask[o : o + length]) > 0))  # first loss-carrying token: the answer
        prompts.append(ids[:first].tolist())
        answers.append(ids[first:-1].tolist())
        eos = int(ids[-1])  # every row ends with EOS
    return QAProbe(prompts, answers, eos) if prompts else None


def _base_module(model: torch.nn.Module) -> torch.nn.Module:
    while hasattr(model, "module") or hasattr(model, "_orig_mod"):  # DDP/FSDP wrappers, torch.compile
        model = getattr(model, "module", None) or model._orig_mod
    return model


@torch.no_grad()
def greedy(
    model: torch.nn.Module, prompts: Sequence[list[int]], max_new_tokens: int, pad_id: int, batch_size: int
) -> list[list[int]]:
    """Greedy continuations of prompts (left-padded batches, KV cache), exactly max_new_tokens each.

    No early stop at EOS: every process of a multi-process run then makes the same number of forward
    passes through the (possibly sharded) model whatever it generated.
    """
    device = next(model.parameters()).device
    forward_kw = {"use_cache": True}
    if "logits_to_keep" in inspect.signature(_base_module(model).forward).parameters:
        forward_kw["logits_to_keep"] = 1  # not [batch, prompt, vocab] logits for a large vocabulary
    out: list[list[int]] = []
    for i in range(0, len(prompts), batch_size):
        chunk = prompts[i : i + batch_size]
        width = max(map(len, chunk))
        ids = torch.full((len(chunk), width), pad_id, dtype=torch.long)
        mask = torch.zeros((len(chunk), width), dtype=torch.long)
        for r, p in enumerate(chunk):
            ids[r, width - len(p) :] = torch.as_tensor(p)
            mask[r, width - len(p) :] = 1
        ids, mask = ids.to(device), mask.to(device)
        step_ids, pos, past, new = ids, (mask.cumsum(-1) - 1).clamp(min=0), None, []
        for _ in range(max_new_tokens):
            o = model(input_ids=step_ids, attention_mask=mask, position_ids=pos, past_key_values=past, **forward_kw)
            nxt = o.logits[:, -1].argmax(-1, keepdim=True)
            new.append(nxt)
            mask = torch.cat([mask, torch.ones_like(nxt)], 1)
            past = getattr(o, "past_key_values", None)
            if past is None:  # a model without a cache: run the whole sequence again
                ids = torch.cat([ids, nxt], 1)
                step_ids, pos = ids, (mask.cumsum(-1) - 1).clamp(min=0)
            else:
                step_ids, pos = nxt, pos[:, -1:] + 1
        out.extend(torch.cat(new, 1).tolist())
    return out


def answer_text(ids: list[int], eos: int, decode: Callable[[list[int]], str]) -> str:
    """The decoded answer: up to EOS, then cut at the prompt format's stop sequences (as eval does)."""
    if eos in ids:
        ids = ids[: ids.index(eos)]
    text = decode(ids)
    for stop in stop_sequences():
        text = text.split(stop)[0]
    return text


def probe_em(
    model: torch.nn.Module, probe: QAProbe, decode: Callable[[list[int]], str], batch_size: int, pad_id: int
) -> float:
    """Exact match (normalized text) of the model's greedy answers to the probe's questions."""
    was_training = model.training
    model.eval()
    max_new = max(map(len, probe.answers)) + 2
    generated = greedy(model, probe.prompts, max_new, pad_id, batch_size)
    model.train(was_training)
    scores = [
        exact_match(answer_text(g, probe.eos, decode), answer_text(a, probe.eos, decode))
        for g, a in zip(generated, probe.answers)
    ]
    return sum(scores) / len(scores)


class AbsorptionProbes:
    """`{"seen_em": fn, "heldout_em": fn}` for the training loop's `probes`; counts questions and seconds."""

    def __init__(self, tokens_dir: Path, tokenizer, n: int, seed: int, batch_size: int = BATCH):
        self.probes: dict[str, QAProbe] = {}
        if n > 0 and (tokens_dir / "qa" / "meta.json").exists():
            src = TokenSource(tokens_dir / "qa")
            for name, split in SPLITS.items():
                probe = load_probe(src, split, n, seed)
                if probe is not None:
                    self.probes[name] = probe
        pad = tokenizer.pad_token_id
        self.pad_id = pad if pad is not None else tokenizer.eos_token_id
        self.decode = lambda ids: tokenizer.decode(ids, skip_special_tokens=True)
        self.batch_size, self.seconds = batch_size, 0.0

    def _run(self, name: str, model: torch.nn.Module) -> float:
        t0 = time.perf_counter()
        em = probe_em(model, self.probes[name], self.decode, self.batch_size, self.pad_id)
        self.seconds += time.perf_counter() - t0
        return em

    def callables(self) -> dict[str, Callable[[torch.nn.Module], float]]:
        return {name: (lambda model, name=name: self._run(name, model)) for name in self.probes}

    def describe(self) -> dict:
        return {
            "questions": {name: len(p.prompts) for name, p in self.probes.items()},
            "seconds": round(self.seconds, 2),
        }

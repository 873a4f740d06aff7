"""The model stage: pin a hub/local model, or build the scratch tokenizer + tiny Llama."""

from __future__ import annotations

import json
import math
from pathlib import Path

from torch.utils.data import Dataset

from cptpipe.data.sources import read_instruct, read_replay
from cptpipe.data.tokens import encode_pairs
from cptpipe.model.scratch import build_scratch_model, pack_stream
from cptpipe.model.start import PIN_FILE, pin_model
from cptpipe.model.tokenizer import build_tokenizer, check_round_trip
from cptpipe.params import Params
from cptpipe.prompts import format_answer, format_prompt
from cptpipe.train.loop import ArrayBlocks, LoopConfig, Phase, train_phases

ROUND_TRIP_TEXT = (
    "The committee met on Tuesday, 14 March 1882, to discuss the new bridge. Its members "
    "agreed that the river crossing would cost about 3,400 pounds, and work began in May."
)


class PairRows(Dataset):
    """Prompt/answer rows padded to a fixed length, loss on the answer only (instruction tuning)."""

    def __init__(self, encoded: list[tuple[list[int], list[int]]], seq_len: int, pad_id: int):
        self.items = []
        for ids, mask in encoded:
            ids, mask = ids[:seq_len], mask[:seq_len]
            labels = [t if m else -100 for t, m in zip(ids, mask)]
            pad = seq_len - len(ids)
            self.items.append((ids + [pad_id] * pad, labels + [-100] * pad, [1] * len(ids) + [0] * pad))

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int):
        import torch

        ids, labels, attn = self.items[i]
        return {"input_ids": torch.tensor(ids), "labels": torch.tensor(labels), "attention_mask": torch.tensor(attn)}


def build_start(params: Params, replay_dir: Path, instruct_dir: Path, out_dir: Path) -> dict:
    """Write models/start; returns a summary for the stage log and START.json."""
    m = params.model
    if m.name_or_path is not None:
        pin = pin_model(m.name_or_path, m.revision)
        pin["kind"] = m.kind
        (out_dir / PIN_FILE).write_text(json.dumps(pin, indent=2, sort_keys=True) + "\n")
        return pin
    sc = params.model.scratch
    replay = read_replay(replay_dir, "train")
    instruct = read_instruct(instruct_dir, "train")
    texts = [r["text"] for r in replay]
    tok = build_tokenizer(texts + [r["instruction"] + "\n" + r["response"] for r in instruct],
                          sc.vocab_size, params.seed)
    check_round_trip(tok, ROUND_TRIP_TEXT)
    model = build_scratch_model(sc, tok, params.seed)
    token_lists = tok(texts, add_special_tokens=False)["input_ids"]
    blocks = pack_stream(token_lists, tok.eos_token_id, sc.context, sc.pretrain_tokens, params.seed)
    batch = 16
    phases = [Phase("pretrain", ArrayBlocks(blocks), max(1, math.ceil(len(blocks) / batch)), sc.pretrain_lr)]
    if sc.instruct_tune:
        enc = encode_pairs(tok, [format_prompt(r["instruction"]) for r in instruct],
                           [format_answer(r["response"]) for r in instruct])
        rows = PairRows(enc, sc.context, tok.pad_token_id)
        phases.append(Phase("instruct_tune", rows, max(1, 2 * math.ceil(len(rows) / batch)), sc.pretrain_lr / 3))
    cfg = LoopConfig(batch_size=batch, warmup=0.05, schedule="cosine", min_lr_ratio=0.1,
                     precision="fp32", seed=params.seed, log_every=50)
    result = train_phases(model, phases, cfg, desc="model: pretrain")
    model.save_pretrained(out_dir, safe_serialization=True)
    tok.save_pretrained(out_dir)
    summary = {
        "source": "scratch", "kind": "instruct" if sc.instruct_tune else m.kind,
        "params": sum(p.numel() for p in model.parameters()), "vocab_size": len(tok),
        "pretrain_tokens": result.tokens, "steps": result.steps, "final_loss": round(result.final_loss, 4),
        "seconds": result.seconds, "phases": result.phases,
    }
    (out_dir / "START.json").write_text(json.dumps(summary, indent=2, sort_keys=True) + "\n")
    return summary

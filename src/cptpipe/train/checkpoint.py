"""Resumable training checkpoints kept outside the stage's outs.

DVC 3 has no `checkpoint:` outs and deletes a stage's outs before it runs, so checkpoints live in
`checkpoints/train/<fingerprint>/step-NNNNNNNN/` (gitignored). The fingerprint hashes everything
that decides the trajectory (train params, seed, start model, mix index, token shards' metadata),
so a checkpoint of another configuration is never resumed. Each checkpoint is accelerate's
`save_state` (model, optimizer, every process's RNG) plus `state.json` (global step, tokens, the
curve points so far); the data position is a pure function of the global step.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path
from typing import Any

from cptpipe.io import hash_dir

STATE_FILE = "state.json"
# Keys that change what is logged or how often it is saved, never the weights.
COSMETIC_KEYS = ("log_every", "save_every", "eval_every")


def fingerprint(train: dict, *, seed: int, extra: dict, start_dir: Path, mix_dir: Path, tokens_dir: Path) -> str:
    """Hash of what decides the training trajectory; 16 hex digits."""
    h = hashlib.sha256()
    cfg = {k: v for k, v in train.items() if k not in COSMETIC_KEYS}
    h.update(json.dumps({"train": cfg, "seed": seed, **extra}, sort_keys=True, default=str).encode())
    h.update(hash_dir(start_dir).encode())
    h.update(hash_dir(mix_dir).encode())
    for meta in sorted(Path(tokens_dir).glob("*/meta.json")):  # token shards can be GBs: hash their metadata
        h.update(meta.parent.name.encode() + meta.read_bytes())
        rows = meta.parent / "rows.parquet"
        if rows.exists():
            h.update(rows.read_bytes())
    return h.hexdigest()[:16]


def latest(ckpt_dir: Path | None) -> Path | None:
    """The newest complete checkpoint (temp dirs of an interrupted save are ignored)."""
    if ckpt_dir is None or not ckpt_dir.is_dir():
        return None
    done = sorted(p for p in ckpt_dir.glob("step-*") if (p / STATE_FILE).exists())
    return done[-1] if done else None


def save(accelerator, ckpt_dir: Path, state: dict[str, Any]) -> Path:
    """Write a checkpoint atomically (temp dir + rename) and drop older ones; call on every process."""
    final = ckpt_dir / f"step-{state['step']:08d}"
    tmp = ckpt_dir / f".tmp-step-{state['step']:08d}"
    if accelerator.is_main_process:
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
    accelerator.wait_for_everyone()
    # pickle, not safetensors: tied embeddings share storage, which safetensors refuses
    accelerator.save_state(str(tmp), safe_serialization=False)
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        (tmp / STATE_FILE).write_text(json.dumps(state, sort_keys=True) + "\n")
        shutil.rmtree(final, ignore_errors=True)
        tmp.rename(final)
        for old in ckpt_dir.glob("step-*"):
            if old != final:
                shutil.rmtree(old, ignore_errors=True)
    accelerator.wait_for_everyone()
    return final


def load(accelerator, path: Path) -> dict[str, Any]:
    """Restore model, optimizer and RNG from `path`; return its state.json."""
    accelerator.load_state(str(path))
    return json.loads((path / STATE_FILE).read_text())

"""Resolve, pin and load the start model (scratch dir, local save_pretrained dir, or hub id)."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from cptpipe.errors import UserError

PIN_FILE = "MODEL.json"


def hash_dir(path: Path) -> str:
    """Content hash of a local model dir (relative names + bytes), independent of where it lives."""
    h = hashlib.sha256()
    for f in sorted(p for p in path.rglob("*") if p.is_file()):
        h.update(f.relative_to(path).as_posix().encode() + b"\0")
        with open(f, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
    return h.hexdigest()


def pin_model(name_or_path: str, revision: str | None) -> dict:
    """What a hub id or local dir resolves to now: a content hash, or the hub commit sha."""
    local = Path(name_or_path)
    if local.is_dir():
        if not (local / "config.json").exists():
            raise UserError(f"model.name_or_path: {name_or_path} has no config.json; "
                            "point it at a directory written by save_pretrained")
        return {"name_or_path": name_or_path, "source": "local", "sha256": hash_dir(local)}
    if os.sep in name_or_path and not name_or_path.count("/") == 1:
        raise UserError(f"model.name_or_path: {name_or_path} is neither a local directory nor a hub id")
    try:
        from huggingface_hub import HfApi

        info = HfApi().model_info(name_or_path, revision=revision)
    except Exception as e:  # noqa: BLE001 - offline or unknown id: tell the user what to change
        raise UserError(
            f"model.name_or_path: cannot resolve hub id {name_or_path!r} ({type(e).__name__}); "
            "offline, use a local directory saved by save_pretrained, or null for the scratch model"
        ) from None
    return {"name_or_path": name_or_path, "source": "hub", "revision": info.sha}


def model_location(start_dir: str | Path) -> tuple[str, str | None]:
    """(path or hub id, revision) to load the start model from models/start."""
    start_dir = Path(start_dir)
    pin = start_dir / PIN_FILE
    if pin.exists():
        meta = json.loads(pin.read_text())
        return meta["name_or_path"], meta.get("revision")
    if not (start_dir / "config.json").exists():
        raise UserError(f"{start_dir}: no model; run `dvc repro model`")
    return str(start_dir), None


def load_tokenizer(start_dir: str | Path):
    from transformers import AutoTokenizer

    where, rev = model_location(start_dir)
    tok = AutoTokenizer.from_pretrained(where, revision=rev)
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    return tok


def load_model(path_or_start: str | Path, dtype=None):
    """Load a causal LM from models/start (following a pin) or any checkpoint dir."""
    import torch
    from transformers import AutoModelForCausalLM

    where, rev = model_location(path_or_start)
    return AutoModelForCausalLM.from_pretrained(where, revision=rev, dtype=dtype or torch.float32)

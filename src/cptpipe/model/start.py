"""Resolve, pin and load the start model (scratch dir, local save_pretrained dir, or hub id)."""

from __future__ import annotations

import json
import os
from pathlib import Path

from cptpipe.errors import UserError
from cptpipe.io import hash_dir

PIN_FILE = "MODEL.json"
START_FILE = "START.json"  # what the model stage built: from scratch (kind, residual, pretraining) or from a GGUF file


def start_info(start_dir: str | Path) -> dict:
    """What the model stage recorded about models/start: START.json (scratch, GGUF) or the pin (hub/local)."""
    for name in (START_FILE, PIN_FILE):
        f = Path(start_dir) / name
        if f.exists():
            return json.loads(f.read_text())
    return {}


def pin_model(name_or_path: str, revision: str | None) -> dict:
    """What a hub id or local dir resolves to now: a content hash, or the hub commit sha."""
    local = Path(name_or_path)
    if local.is_dir():
        if not (local / "config.json").exists():
            raise UserError(
                f"model.name_or_path: {name_or_path} has no config.json; "
                "point it at a directory written by save_pretrained"
            )
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


def start_tokenizer(start_dir: str | Path):
    """The tokenizer exactly as the start model ships it (what models/cpt saves: chat template, specials)."""
    from transformers import AutoTokenizer

    where, rev = model_location(start_dir)
    return AutoTokenizer.from_pretrained(where, revision=rev)


def load_tokenizer(start_dir: str | Path):
    """The start tokenizer for batching: a tokenizer without a pad token (GPT-2) pads with EOS."""
    tok = start_tokenizer(start_dir)
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    return tok


def weights_bytes(config, bytes_per_param: int = 4) -> int:
    """Bytes of the model's weights at `bytes_per_param` (4: fp32), counted on the meta device (no memory)."""
    import torch
    from transformers import AutoModelForCausalLM

    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(config)
    return sum(p.numel() for p in model.parameters()) * bytes_per_param


def available_ram() -> int:
    """Bytes the OS can give this process now (MemAvailable: free + reclaimable cache)."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")


def human_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GiB"


def check_fits(config, where: str, bytes_per_param: int = 4, available: int | None = None) -> int:
    """Refuse a model whose weights would not fit in RAM before loading them (the OOM killer says nothing)."""
    need = weights_bytes(config, bytes_per_param)
    have = available_ram() if available is None else available
    if need > have:
        raise UserError(
            f"model.name_or_path: {where} needs {human_bytes(need)} for its weights at "
            f"{8 * bytes_per_param} bits, but only {human_bytes(have)} of RAM is available; "
            "pick a smaller model, or run on a machine with more memory"
        )
    return need


def load_model(path_or_start: str | Path, dtype=None, config=None, available: int | None = None):
    """Load a causal LM from models/start (following a pin) or any checkpoint dir, refused early if too big.

    available: bytes of RAM to plan with (None: what the OS reports now).
    """
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    where, rev = model_location(path_or_start)
    dtype = dtype or torch.float32
    config = config or AutoConfig.from_pretrained(where, revision=rev)
    check_fits(config, where, torch.empty(0, dtype=dtype).element_size(), available)
    return AutoModelForCausalLM.from_pretrained(where, revision=rev, config=config, dtype=dtype)

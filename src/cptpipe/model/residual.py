"""The instruction residual (Jindal et al. 2024, arXiv 2410.10739): instruct weights minus base weights.

After continued pre-training of a *base* model, adding (instruct - base) back restores instruction
following without training on instructions again. The `model` stage stores the residual beside the
start model (scratch: the base is tuned on data/instruct as the instruct start is; a real model: the
pinned instruct sibling minus the start), and `train.instruct_residual` adds it, scaled, to the
trained weights.
"""

from __future__ import annotations

import json
from pathlib import Path

RESIDUAL_FILE = "instruct_residual.safetensors"


def weight_delta(tuned: dict, base: dict) -> dict:
    """tuned - base per tensor; both must hold the same names and shapes."""
    if tuned.keys() != base.keys():
        missing = sorted(tuned.keys() ^ base.keys())[:5]
        raise ValueError(f"instruct and base models differ in their weights' names, e.g. {missing}")
    out = {}
    for name, t in tuned.items():
        if t.shape != base[name].shape:
            raise ValueError(f"{name}: instruct {tuple(t.shape)} vs base {tuple(base[name].shape)}")
        out[name] = (t.float() - base[name].float()).contiguous()
    return out


def save_residual(tuned: dict, base: dict, out_dir: Path) -> None:
    from safetensors.torch import save_file

    save_file(weight_delta(tuned, base), str(Path(out_dir) / RESIDUAL_FILE))


def add_residual(model, residual: dict, scale: float) -> int:
    """model weights += scale x residual, in place (tied weights once); returns the tensors changed."""
    import torch

    params = dict(model.named_parameters())
    changed = 0
    with torch.no_grad():
        for name, delta in residual.items():
            if name in params:
                params[name].add_(delta.to(params[name].dtype) * scale)
                changed += 1
    if changed == 0:
        raise ValueError("the instruction residual matches no weight of the trained model")
    return changed


def residual_in_start(start_dir: Path) -> bool:
    """True for a scratch instruct start that stored its residual: its weights are base + residual, so a
    run with train.instruct_residual trains the base under it (start - residual)."""
    from cptpipe.model.start import START_FILE

    f = Path(start_dir) / START_FILE  # scratch only: a pin's instruct_residual names a sibling model
    info = json.loads(f.read_text()) if f.exists() else {}
    return info.get("kind") == "instruct" and bool(info.get("instruct_residual"))


def load_residual(start_dir: Path) -> dict:
    """The residual the model stage stored in models/start, or (instruct sibling - start) of a pin."""
    from safetensors.torch import load_file

    from cptpipe.errors import UserError
    from cptpipe.model.start import PIN_FILE, load_model

    start_dir = Path(start_dir)
    if (start_dir / RESIDUAL_FILE).exists():
        return load_file(str(start_dir / RESIDUAL_FILE))
    pin = json.loads((start_dir / PIN_FILE).read_text()) if (start_dir / PIN_FILE).exists() else {}
    sibling = pin.get("instruct_residual")
    if not sibling:
        raise UserError(
            f"train.instruct_residual: {start_dir} holds no instruction residual; set model.instruct_residual: true "
            "(and model.instruct_name_or_path for a hub/local model) and rerun the model stage"
        )
    base = load_model(start_dir).state_dict()
    tuned = load_model(_pin_dir(start_dir, sibling)).state_dict()
    return weight_delta(tuned, base)


def _pin_dir(start_dir: Path, pin: dict) -> Path:
    """A folder that load_model follows to the pinned instruct sibling."""
    import tempfile

    from cptpipe.model.start import PIN_FILE

    folder = Path(tempfile.mkdtemp(prefix="cptpipe-instruct-"))
    (folder / PIN_FILE).write_text(json.dumps(pin))
    return folder

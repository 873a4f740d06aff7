"""The shipped general sources: replay text and instruction rows, each with a held-out part."""

from __future__ import annotations

from pathlib import Path

from cptpipe.errors import UserError
from cptpipe.io import read_jsonl

SPLITS = ("train", "heldout")


def _read(folder: Path, split: str, required: tuple[str, ...]) -> list[dict]:
    path = Path(folder) / f"{split}.jsonl"
    if not path.exists():
        raise UserError(f"{path}: missing; the shipped sample should be there (see data/README.md)")
    rows = read_jsonl(path)
    for i, r in enumerate(rows, 1):
        missing = [k for k in required if not isinstance(r.get(k), str)]
        if missing:
            raise UserError(f"{path}:{i}: missing string field(s) {', '.join(missing)}")
    return rows


def read_replay(folder: str | Path, split: str) -> list[dict]:
    """Rows {id, text, source} of general text; `heldout` is only for perplexity."""
    return _read(Path(folder), split, ("id", "text"))


def read_instruct(folder: str | Path, split: str) -> list[dict]:
    """Rows {id, instruction, response, constraint}; `heldout` is only for evaluation."""
    return _read(Path(folder), split, ("id", "instruction", "response"))

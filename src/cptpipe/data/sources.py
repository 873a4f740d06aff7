"""The shipped general sources: replay text and instruction rows, each with a held-out part."""

from __future__ import annotations

import hashlib
import json
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


# --- mix.replay_source: the shipped folder, any local folder, or a streamed HF dataset -------------

HELDOUT_SHARE = 0.05  # of rows (by a hash of the text) held out of other replay sources for perplexity
TEXT_SUFFIXES = (".txt", ".jsonl", ".parquet")


def parse_hf_spec(spec: str) -> tuple[str, str | None, str]:
    """'hf:name[:config]@split' -> (name, config, split); name may be a hub id or a local dataset dir."""
    body = spec[len("hf:") :]
    name, at, split = body.rpartition("@")
    if not at or not name or not split:
        raise UserError(
            f"mix.replay_source: {spec!r} is not hf:name[:config]@split (e.g. hf:wikitext:wikitext-2-raw-v1@train)"
        )
    name, _, config = name.partition(":")
    return name, config or None, split


def is_split_folder(folder: Path) -> bool:
    """The shipped layout: train.jsonl + heldout.jsonl with {id, text} rows, split by hand."""
    return all((folder / f"{s}.jsonl").is_file() for s in SPLITS)


def heldout_by_hash(text: str) -> str:
    h = int.from_bytes(hashlib.blake2b(text.encode("utf-8", "replace"), digest_size=8).digest(), "big")
    return "heldout" if h < HELDOUT_SHARE * 2**64 else "train"


def _iter_jsonl(path: Path, field: str = "text"):
    with open(path, encoding="utf-8") as f:
        for i, line in enumerate(f, 1):
            if line.strip():
                row = json.loads(line)
                text = row.get(field)
                if not isinstance(text, str):
                    raise UserError(f"{path}:{i}: no string field {field!r}")
                yield str(row.get("id", f"{path.name}:{i}")), text


def _iter_folder_files(folder: Path):
    """(id, text) of every .txt (one document per file), .jsonl and .parquet row under folder."""
    import pyarrow.parquet as pq

    files = sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix in TEXT_SUFFIXES)
    if not files:
        raise UserError(f"mix.replay_source: {folder} has no {', '.join(TEXT_SUFFIXES)} files")
    for path in files:
        rel = path.relative_to(folder).as_posix()
        if path.suffix == ".txt":
            yield rel, path.read_text(encoding="utf-8", errors="replace")
        elif path.suffix == ".jsonl":
            yield from _iter_jsonl(path)
        else:
            pf = pq.ParquetFile(path)
            if "text" not in pf.schema_arrow.names:
                raise UserError(f"{path}: no 'text' column")
            i = 0
            for batch in pf.iter_batches(columns=["text"], batch_size=1024):
                for text in batch.column(0).to_pylist():
                    yield f"{rel}:{i}", text or ""
                    i += 1


def _iter_hf(spec: str):
    from datasets import load_dataset

    name, config, split = parse_hf_spec(spec)
    ds = load_dataset(name, config, split=split, streaming=True)
    for i, row in enumerate(ds):
        text = row.get("text")
        if not isinstance(text, str):
            raise UserError(f"mix.replay_source: {spec}: row {i} has no string 'text' field")
        yield f"{name}:{i}", text


def iter_replay(source: str):
    """Rows {text, split, doc_id, kind} of the replay source (a folder or hf:name[:config]@split),
    streamed in the source's order.

    Folders laid out as shipped (train.jsonl + heldout.jsonl) keep their split; other folders and HF
    datasets hold out HELDOUT_SHARE of rows by a hash of the text (stable whatever is read before or after).
    """
    if source.startswith("hf:"):
        rows = _iter_hf(source)
    else:
        folder = Path(source)
        if not folder.is_dir():
            raise UserError(f"mix.replay_source: {folder} is not a folder (or use hf:name[:config]@split)")
        if is_split_folder(folder):
            for split in SPLITS:
                for doc_id, text in _iter_jsonl(folder / f"{split}.jsonl"):
                    yield {"text": text, "split": split, "doc_id": doc_id, "kind": "doc"}
            return
        rows = _iter_folder_files(folder)
    for doc_id, text in rows:
        if text.strip():
            yield {"text": text, "split": heldout_by_hash(text), "doc_id": doc_id, "kind": "doc"}

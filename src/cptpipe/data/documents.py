"""The one record type of the data stages: a document row in an Arrow table."""

from __future__ import annotations

import hashlib
import re
import unicodedata

import pyarrow as pa

DOC_SCHEMA = pa.schema([
    ("doc_id", pa.string()),     # content hash of the normalized text: stable across runs and machines
    ("source", pa.string()),     # path relative to data/raw (plus #line for jsonl rows)
    ("title", pa.string()),
    ("text", pa.string()),
    ("n_chars", pa.int64()),
    ("split", pa.string()),      # "train" | "heldout": whose QA is held out for evaluation
    ("metadata", pa.string()),   # JSON of the other fields a reader found
])

_WS = re.compile(r"[ \t\u00a0\u2000-\u200b]+")
_CTRL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_BLANKS = re.compile(r"\n{3,}")


def normalize_text(text: str) -> str:
    """NFC, no control characters, collapsed spaces, at most one blank line in a row."""
    text = unicodedata.normalize("NFC", text).replace("\r\n", "\n").replace("\r", "\n")
    text = _CTRL.sub("", text)
    lines = [_WS.sub(" ", line).strip() for line in text.split("\n")]
    return _BLANKS.sub("\n\n", "\n".join(lines)).strip()


def doc_id_of(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def split_of(doc_id: str, heldout: float, seed: int) -> str:
    """Seeded hash split: adding a document never moves any other document."""
    h = int(hashlib.sha256(f"{seed}:{doc_id}".encode()).hexdigest()[:12], 16) / float(1 << 48)
    return "heldout" if h < heldout else "train"


def title_of(text: str, fallback: str) -> str:
    """First Markdown heading, else the first short line, else the file stem."""
    for line in text.split("\n")[:5]:
        s = line.strip()
        if s.startswith("#"):
            return s.lstrip("#").strip()
    first = text.split("\n", 1)[0].strip()
    return first if 0 < len(first) <= 80 else fallback

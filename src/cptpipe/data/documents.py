"""The records of the data stages: a document on its way through ingest (`Doc`), or the `Drop` that
ends its way with a reason; the row it becomes in an Arrow table; their text helpers and storage."""

from __future__ import annotations

import hashlib
import re
import unicodedata
import zlib
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from cptpipe.errors import UserError

DOC_SCHEMA = pa.schema(
    [
        ("doc_id", pa.string()),  # content hash of the normalized text: stable across runs and machines
        ("source", pa.string()),  # path relative to data/raw (plus :line / :row for jsonl and parquet rows)
        ("title", pa.string()),
        ("text", pa.string()),
        ("n_chars", pa.int64()),
        ("split", pa.string()),  # "train" | "heldout": whose QA is held out for evaluation
        ("metadata", pa.string()),  # JSON of the other fields a reader found
    ]
)


@dataclass
class Doc:
    """A document on its way through ingest (datatrove's Document): what a reader found, then what
    the steps (cptpipe.data.steps) made of it; a kept one becomes a DOC_SCHEMA row."""

    source: str  # path relative to data/raw, plus :line / :row for jsonl and parquet rows
    text: str
    title: str | None = None  # the title the file itself names (HTML <title>, PDF info, a "title" field)
    metadata: dict = field(default_factory=dict)  # the reader's other fields
    flags: list[str] = field(default_factory=list)  # quality rules it failed under profile curated: kept
    _hashes: np.ndarray | None = field(default=None, init=False, repr=False, compare=False)

    @property
    def hashes(self) -> np.ndarray:
        """word_hashes of the text, computed once on first use (the n-gram rules and MinHash share them);
        a step that rewrites the text runs before any step that reads them."""
        if self._hashes is None:
            self._hashes = word_hashes(self.text)
        return self._hashes


@dataclass
class Drop:
    """Why an input or a document did not reach the shards."""

    source: str
    reason: str
    detail: str = ""
    chars: int = 0  # characters of text lost (file bytes when it could not be read): the drop alarm's byte share


_SPACES = "\t\u00a0\u1680\u2000-\u200b\u202f\u205f\u3000"
# Matches only what must change (a run of 2+ spaces, or any other space character), so the common
# single ASCII space costs no replacement; 3-4x faster than replacing every space run on prose.
_WS = re.compile(f" [ {_SPACES}]+|[{_SPACES}][ {_SPACES}]*")
_NEWLINES = re.compile(r"\r\n?|[\x0b\x0c\x85\u2028\u2029]")  # form feeds are PDF page breaks: keep a break
_CTRL = re.compile(r"[\x00-\x08\x0e-\x1f\x7f\x80-\x84\x86-\x9f\ufeff\ufffe]")
_LINE_EDGES = re.compile(r" ?\n ?")
_BLANKS = re.compile(r"\n{3,}")
_DIGITS = re.compile(r"\d+")
BOILERPLATE_MAX_LEN = 100  # only short lines (headers, footers, "Share this", "Page 3 of 9") count as page furniture


def normalize_text(text: str, boilerplate_repeats: int = 0) -> str:
    """NFC, no control characters, collapsed spaces, at most one blank line in a row.

    With boilerplate_repeats >= 2, a short line that occurs that often in the document (digits
    ignored, so "Page 3 of 9" matches "Page 4 of 9") is kept only where it first appears.
    """
    if not unicodedata.is_normalized("NFC", text):
        text = unicodedata.normalize("NFC", text)
    if not _is_clean(text):  # most documents are: one scan instead of four substitutions
        text = _CTRL.sub("", _NEWLINES.sub("\n", text))
        text = _LINE_EDGES.sub("\n", _WS.sub(" ", text))
    if boilerplate_repeats >= 2:
        text = strip_boilerplate(text, boilerplate_repeats)
    if "\n\n\n" in text:
        text = _BLANKS.sub("\n\n", text)
    return text.strip(" \n")


_ASCII_PLAIN = bytes(range(0x20, 0x7F)) + b"\n"
_SUSPECT = re.compile(f"[\\x00-\\x09\\x0b-\\x1f\\x7f-\\x9f\\r\u2028\u2029\ufeff\ufffe{_SPACES}]|  | \\n|\\n ")


def _is_clean(text: str) -> bool:
    """True if no control character, odd space, CR, double space or space at a line edge occurs."""
    if text.isascii():  # byte-level checks run at memory speed
        return (
            not text.encode("ascii").translate(None, _ASCII_PLAIN)
            and "  " not in text
            and " \n" not in text
            and "\n " not in text
        )
    return _SUSPECT.search(text) is None


def strip_boilerplate(text: str, repeats: int) -> str:
    """Keep the first of each short line that occurs `repeats`+ times (running headers/footers)."""
    lines = text.split("\n")
    keys = [_DIGITS.sub("0", s) if 0 < len(s) <= BOILERPLATE_MAX_LEN and _has_letter(s) else None for s in lines]
    counts = Counter(k for k in keys if k is not None)
    furniture = {k for k, c in counts.items() if c >= repeats}
    if not furniture:
        return text
    seen: set[str] = set()
    out = []
    for line, key in zip(lines, keys):
        if key in furniture:
            if key in seen:
                continue
            seen.add(key)
        out.append(line)
    return "\n".join(out)


def _has_letter(s: str) -> bool:
    # lines of only symbols/digits ("}", "---", "1.") are structure, not boilerplate
    return any(c.isalpha() for c in s)


def doc_id_of(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def split_of(doc_id: str, heldout: float, seed: int) -> str:
    """Seeded hash split: adding a document never moves any other document."""
    h = int(hashlib.sha256(f"{seed}:{doc_id}".encode()).hexdigest()[:12], 16) / float(1 << 48)
    return "heldout" if h < heldout else "train"


def heading_of(text: str) -> str:
    """The Markdown heading among the first five lines, or ""."""
    return next((s.strip().lstrip("#").strip() for s in text.split("\n")[:5] if s.strip().startswith("#")), "")


def split_key(text: str, doc_id: str) -> str:
    """What the held-out split hashes: the text's opening Markdown heading, so that documents about one
    subject (several biographies of an entity, versions of a page) fall on the same side and none of a
    held-out document's facts is trained through a sibling's QA; else the document's own id (a first
    line or file-stem fallback title would put unrelated documents together).
    """
    heading = heading_of(text)
    return f"title:{heading.casefold()}" if heading else doc_id


def title_of(text: str, fallback: str) -> str:
    """First Markdown heading, else the first short line, else the file stem."""
    heading = heading_of(text)
    if heading:
        return heading
    lines = text.split("\n", 2)
    first = lines[0].strip()
    # "GNU GENERAL PUBLIC LICENSE" / "Version 3, 29 June 2007": the version tells the texts apart
    second = lines[1].strip() if len(lines) > 1 else ""
    if 0 < len(first) <= 80 and re.match(r"Version \d", second) and len(first) + len(second) < 120:
        return f"{first}, {second}"
    return first if 0 < len(first) <= 80 else fallback


def word_hashes(text: str) -> np.ndarray:
    """crc32 of each lower-cased word: the shared input of n-gram filters and MinHash shingles.

    A word is a run of bytes of the UTF-8 text between ASCII spaces and ASCII punctuation (non-ASCII
    characters, letters or not, stay inside words): the same as the regex \\w+ on ASCII text, and split
    at C speed. crc32, not Python's hash(), because it is the same in every process and run.
    """
    words = text.lower().encode("utf-8", "surrogatepass").translate(_ASCII_NON_WORD).split()
    return np.fromiter(map(zlib.crc32, words), dtype=np.uint32, count=len(words))


# every ASCII byte that `\w` does not match becomes a space
_ASCII_NON_WORD = bytes(c if chr(c).isalnum() or c == ord("_") else 32 for c in range(128)) + bytes(range(128, 256))


# Odd multipliers mix the words of an n-gram position-dependently ("a b" != "b a"); uint32 wraps.
_NGRAM_MULT = np.array(
    [
        0x9E3779B1,
        0x85EBCA77,
        0xC2B2AE3D,
        0x27D4EB2F,
        0x165667B1,
        0xD3A2646D,
        0xFD7046C5,
        0xB55A4F09,
        0x8CB92BA7,
        0x2545F491,
    ],
    dtype=np.uint32,
)


def ngram_hashes(hashes: np.ndarray, n: int) -> np.ndarray:
    """One uint32 per word n-gram (len(hashes) - n + 1 of them; empty if fewer words)."""
    if len(hashes) < n:
        return np.empty(0, dtype=np.uint32)
    out = hashes[: len(hashes) - n + 1] * _NGRAM_MULT[0]
    for k in range(1, n):
        out += hashes[k : len(hashes) - n + 1 + k] * _NGRAM_MULT[k]
    return out


# ---- Arrow storage: sorted spill runs of the ingest stage, and the output shards ----------------

RUN_BATCH = 1024  # rows per record batch of a spill run (random access: row // RUN_BATCH)
ROW_GROUP_ROWS, ROW_GROUP_BYTES = 4096, 64 << 20  # shard row groups: the unit readers stream


def run_path(spill_dir: Path, task: int) -> Path:
    return spill_dir / f"run-{task:06d}.arrow"


def write_run(path: Path, rows: list[dict]) -> None:
    """Rows (sorted by the caller) as an lz4 Arrow file in batches of exactly RUN_BATCH rows."""
    table = pa.Table.from_pylist(rows, schema=DOC_SCHEMA).combine_chunks()
    with pa.ipc.new_file(path, DOC_SCHEMA, options=pa.ipc.IpcWriteOptions(compression="lz4")) as w:
        w.write_table(table, max_chunksize=RUN_BATCH)


class RunTexts:
    """The text of row `row` of task `task`'s spill run, for exact Jaccard of LSH candidates. Reads one
    record batch at a time through a plain file, not a memory map: a map would leave every page it
    touched in the reader's resident memory, and the candidates touch runs all over the corpus."""

    def __init__(self, spill_dir: Path):
        self.spill_dir = spill_dir
        self.last: tuple[tuple[int, int], pa.Array] | None = None

    def text(self, task: int, row: int) -> str:
        key = (task, row // RUN_BATCH)
        if self.last is None or self.last[0] != key:
            with pa.OSFile(str(run_path(self.spill_dir, task))) as f:
                self.last = key, pa.ipc.open_file(f).get_batch(key[1]).column("text")
        return self.last[1][row % RUN_BATCH].as_py()


def write_shard(rows: list[dict], path: Path) -> dict:
    """One zstd Parquet shard in row groups of ROW_GROUP_ROWS rows / ROW_GROUP_BYTES of text; its manifest entry."""
    # no statistics/timestamps that vary between runs: identical inputs -> identical bytes
    with pq.ParquetWriter(path, DOC_SCHEMA, compression="zstd") as writer:
        group: list[dict] = []
        group_bytes = 0
        for row in rows:
            group.append(row)
            group_bytes += len(row["text"])
            if len(group) >= ROW_GROUP_ROWS or group_bytes >= ROW_GROUP_BYTES:
                writer.write_table(pa.Table.from_pylist(group, schema=DOC_SCHEMA))
                group, group_bytes = [], 0
        if group:
            writer.write_table(pa.Table.from_pylist(group, schema=DOC_SCHEMA))
    digest = hashlib.md5(path.read_bytes()).hexdigest()
    return {"file": path.name, "docs": len(rows), "bytes": path.stat().st_size, "md5": digest}


def read_documents(shards_dir: Path, columns: list[str] | None = None) -> pa.Table:
    """All document rows of data/shards as one table (for small corpora and tests)."""
    files = sorted(Path(shards_dir).glob("shard-*.parquet"))
    if not files:
        raise UserError(f"{shards_dir}: no shards; run `dvc repro ingest`")
    return pa.concat_tables([pq.read_table(f, columns=columns) for f in files])

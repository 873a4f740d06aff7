"""Shared fixtures for QA tests: a few real documents of the shipped corpus as an ingest table."""

from pathlib import Path

import pyarrow as pa
import pytest

ROOT = Path(__file__).resolve().parents[2]


def corpus_docs(n: int | None = None, heldout_every: int = 3) -> list[dict]:
    """Shipped encyclopedia articles as ingest rows; every `heldout_every`-th is held out."""
    paths = sorted((ROOT / "data/raw/encyclopedia").glob("*/*.md"))[:n]
    docs = []
    for i, p in enumerate(paths):
        text = p.read_text(encoding="utf-8")
        docs.append({"doc_id": p.stem, "title": text.splitlines()[0].removeprefix("# ").strip(), "text": text,
                     "split": "heldout" if i % heldout_every == 0 else "train"})
    return docs


@pytest.fixture
def docs_table():
    return pa.Table.from_pylist(corpus_docs(6))

"""Shared fixtures for QA tests: a few real documents of the shipped corpus as an ingest table."""

from pathlib import Path

import pyarrow as pa
import pytest

ROOT = Path(__file__).resolve().parents[2]


def corpus_docs(n: int | None = None, heldout_every: int = 3) -> list[dict]:
    """Shipped encyclopedia biographies as ingest rows; every `heldout_every`-th entity is held out
    (all its biographies, as ingest's split by title does)."""
    paths = sorted((ROOT / "data/raw/encyclopedia").glob("*/*.md"))[:n]
    docs, entities = [], {}
    for p in paths:
        text = p.read_text(encoding="utf-8")
        title = text.splitlines()[0].removeprefix("# ").strip()
        i = entities.setdefault(title, len(entities))
        docs.append(
            {"doc_id": p.stem, "title": title, "text": text, "split": "heldout" if i % heldout_every == 0 else "train"}
        )
    return docs


@pytest.fixture
def docs_table():
    return pa.Table.from_pylist(corpus_docs(6))

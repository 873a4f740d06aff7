"""Exact and near-duplicate detection; the kept copy is the lowest doc_id, so runs agree."""

from __future__ import annotations

import re

from datasketch import MinHash, MinHashLSH

NUM_PERM = 128
_WORD = re.compile(r"\w+")


def shingles(text: str, n: int = 5) -> set[bytes]:
    words = _WORD.findall(text.lower())
    if len(words) < n:
        return {" ".join(words).encode()}
    return {" ".join(words[i:i + n]).encode() for i in range(len(words) - n + 1)}


def minhash(text: str, seed: int = 1) -> MinHash:
    m = MinHash(num_perm=NUM_PERM, seed=seed)
    m.update_batch(list(shingles(text)))
    return m


def near_duplicates(docs: list[tuple[str, str]], threshold: float) -> dict[str, str]:
    """Map doc_id -> kept doc_id for every near-duplicate; docs are (doc_id, text).

    Documents are inserted in doc_id order, and a document whose LSH candidates include an
    already-kept one (with estimated Jaccard >= threshold) is dropped in its favour.
    """
    lsh = MinHashLSH(threshold=threshold, num_perm=NUM_PERM)
    kept: dict[str, MinHash] = {}
    dropped: dict[str, str] = {}
    for doc_id, text in sorted(docs):
        m = minhash(text)
        hits = [h for h in lsh.query(m) if kept[h].jaccard(m) >= threshold]
        if hits:
            dropped[doc_id] = min(hits)
            continue
        lsh.insert(doc_id, m)
        kept[doc_id] = m
    return dropped

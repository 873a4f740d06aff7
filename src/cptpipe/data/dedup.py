"""Exact and near-duplicate detection; the kept copy is the lowest key, so every run agrees.

Near-duplicates: MinHash over word 5-gram shingles, candidates from datasketch's MinHashLSH,
then confirmed by the estimated Jaccard. Signatures are computed in numpy with datasketch's own
"affine32" permutations, so they equal `datasketch.MinHash(hashfunc=<our shingle hash>)` exactly
(tested) at a fraction of the cost of hashing each shingle in Python.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from datasketch import MinHash, MinHashLSH
from datasketch.minhash import _fmix

from cptpipe.data.documents import ngram_hashes, word_hashes

NUM_PERM = 128
SEED = 1
SHINGLE = 5  # words per shingle: long enough that unrelated texts rarely share one
_CHUNK = 8192  # shingles per numpy block: bounds the (shingles x perms) temporary to 4 MB
# Banding is tuned for recall: bands for (threshold - LSH_SLACK) weighted (false positives 0.05,
# false negatives 0.95), so at 128 permutations a pair at the threshold is missed with p ~0.006
# (datasketch defaults at the threshold itself: ~0.5). Extra candidates cost one exact Jaccard each.
LSH_WEIGHTS = (0.05, 0.95)
LSH_SLACK = 0.05
_PERMS = MinHash(num_perm=NUM_PERM, seed=SEED).permutations  # (a, b) uint32 rows, seeded: fixed


def shingle_hashes(text: str, n: int = SHINGLE, hashes: np.ndarray | None = None) -> np.ndarray:
    """Distinct uint32 hashes of the word n-grams of text (the whole text if it has fewer words)."""
    h = word_hashes(text) if hashes is None else hashes
    grams = ngram_hashes(h, n) if len(h) >= n else ngram_hashes(h, len(h)) if len(h) else h
    return np.unique(grams)


def signature(shingles: np.ndarray) -> np.ndarray:
    """MinHash signature (NUM_PERM uint32) of a set of uint32 shingle hashes."""
    a, b = _PERMS
    sig = np.full(NUM_PERM, np.iinfo(np.uint32).max, dtype=np.uint32)
    hv = _fmix(shingles.astype(np.uint32).reshape(-1, 1), 32)
    for i in range(0, len(hv), _CHUNK):
        np.minimum(sig, (hv[i : i + _CHUNK] * a + b).min(axis=0), out=sig)
    return sig


def minhash(text: str) -> MinHash:
    """A datasketch MinHash of text (for callers that want the library object)."""
    return as_minhash(signature(shingle_hashes(text)))


def as_minhash(sig: np.ndarray) -> MinHash:
    return MinHash(num_perm=NUM_PERM, seed=SEED, hashvalues=sig, permutations=_PERMS, scheme="affine32")


def exact_duplicates(keys: Sequence[tuple[str, str]]) -> dict[int, int]:
    """Index -> kept index for every repeat among (doc_id, source) keys; the lowest source is kept."""
    order = sorted(range(len(keys)), key=keys.__getitem__)
    dropped: dict[int, int] = {}
    for prev, cur in zip(order, order[1:]):
        if keys[cur][0] == keys[prev][0]:
            dropped[cur] = dropped.get(prev, prev)
    return dropped


def jaccard(a: np.ndarray, b: np.ndarray) -> float:
    """Exact Jaccard of two shingle sets given as unique arrays."""
    inter = np.intersect1d(a, b, assume_unique=True).size
    union = a.size + b.size - inter
    return inter / union if union else 1.0


def near_duplicates(
    keys: Sequence, sigs: np.ndarray, threshold: float, similarity: Callable[[int, int], float] | None = None
) -> dict[int, int]:
    """Index -> kept index for every near-duplicate; keys sort the documents, sigs one row each.

    Documents are inserted in key order; a document whose LSH candidates include an already kept
    one with similarity >= threshold is dropped in favour of the lowest such key. `similarity`
    (i, j) should be the exact Jaccard (the caller can re-read texts); without it the MinHash
    estimate is used, which is off by ~0.03 at 128 permutations.
    """
    lsh = MinHashLSH(threshold=max(0.05, threshold - LSH_SLACK), num_perm=NUM_PERM, weights=LSH_WEIGHTS)
    sim = similarity or (lambda i, j: np.count_nonzero(sigs[i] == sigs[j]) / NUM_PERM)
    dropped: dict[int, int] = {}
    for i in sorted(range(len(keys)), key=keys.__getitem__):
        m = as_minhash(sigs[i])
        kept = next((j for j in sorted(lsh.query(m), key=keys.__getitem__) if sim(i, j) >= threshold), None)
        if kept is not None:
            dropped[i] = kept
            continue
        lsh.insert(i, m, check_duplication=False)
    return dropped

"""Exact and near-duplicate detection; the kept copy is the lowest key, so every run agrees.

Near-duplicates: MinHash over word 5-gram shingles, candidates from LSH bands (datasketch's banding),
then confirmed by the exact Jaccard. `near_duplicates` is the one-process reference (datasketch's
MinHashLSH, documents inserted in key order); ingest runs the same decision banded: `band_pairs` per
LSH band (one task each, as large-scale dedup pipelines shard the work), the candidate pairs
confirmed in chunks, and `resolve_near` replays the key-order decision over the confirmed pairs.
Signatures are computed in numpy with datasketch's own "affine32" permutations, so they equal
`datasketch.MinHash(hashfunc=<our shingle hash>)` exactly (tested) at a fraction of the cost of
hashing each shingle in Python.
"""

from __future__ import annotations

from collections import defaultdict
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


def lsh_bands(threshold: float) -> list[tuple[int, int]]:
    """Signature column ranges of the LSH bands near_duplicates uses at this threshold (datasketch's choice)."""
    lsh = MinHashLSH(threshold=max(0.05, threshold - LSH_SLACK), num_perm=NUM_PERM, weights=LSH_WEIGHTS)
    return [(int(lo), int(hi)) for lo, hi in lsh.hashranges]


def band_pairs(rows: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """(k, 2) int64 pairs (lower id first) of ids whose rows (one band of their signatures) are equal:
    the LSH candidates of one band. Only buckets of two or more documents cost Python time."""
    if len(ids) < 2:
        return np.empty((0, 2), dtype=np.int64)
    _, bucket = np.unique(rows, axis=0, return_inverse=True)
    order = np.argsort(bucket.ravel(), kind="stable")
    sizes = np.bincount(bucket.ravel())
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    pairs = []
    for start, size in zip(starts[sizes > 1], sizes[sizes > 1]):
        members = np.sort(ids[order[start : start + size]])
        a, b = np.triu_indices(size, 1)
        pairs.append(np.stack([members[a], members[b]], axis=1))
    return np.concatenate(pairs).astype(np.int64) if pairs else np.empty((0, 2), dtype=np.int64)


def resolve_near(keys: Sequence, edges: np.ndarray) -> dict[int, int]:
    """Index -> kept index from confirmed near-duplicate pairs: exactly near_duplicates' decision. In key
    order, a document is dropped for the lowest-key earlier document it is similar to that is still kept
    (a chain a ~ b ~ c with a !~ c keeps a and c)."""
    neighbours: dict[int, list[int]] = defaultdict(list)
    for a, b in edges.tolist():
        neighbours[a].append(b)
        neighbours[b].append(a)
    dropped: dict[int, int] = {}
    for i in sorted(neighbours, key=keys.__getitem__):
        earlier = [j for j in neighbours[i] if keys[j] < keys[i] and j not in dropped]
        if earlier:
            dropped[i] = min(earlier, key=keys.__getitem__)
    return dropped

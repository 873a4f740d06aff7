"""MinHash signatures equal datasketch's; exact and near dedup keep the lowest key."""

import random

import numpy as np
from datasketch import MinHash

from cptpipe.data.dedup import (
    NUM_PERM,
    band_pairs,
    exact_duplicates,
    jaccard,
    lsh_bands,
    minhash,
    near_duplicates,
    resolve_near,
    shingle_hashes,
    signature,
)
from tests.data.ingest_corpus import near_copy, prose


def test_signature_equals_datasketch_minhash():
    shingles = shingle_hashes(prose(random.Random(0), 200))
    reference = MinHash(num_perm=NUM_PERM, seed=1, hashfunc=int)
    reference.update_batch(list(shingles))
    assert np.array_equal(signature(shingles), reference.hashvalues)
    assert minhash("same text here and there").jaccard(minhash("same text here and there")) == 1.0


def test_shingles_are_order_sensitive_and_cover_short_texts():
    assert not np.array_equal(shingle_hashes("a b c d e"), shingle_hashes("e d c b a"))
    assert len(shingle_hashes("two words")) == 1 and len(shingle_hashes("")) == 0


def test_exact_duplicates_keep_lowest_source():
    keys = [("id1", "b.txt"), ("id2", "x.txt"), ("id1", "a.txt"), ("id1", "c.txt")]
    assert exact_duplicates(keys) == {0: 2, 3: 2}


def test_near_duplicates_found_and_distinct_texts_not_merged():
    rng = random.Random(1)
    bases = [prose(rng, 250) for _ in range(30)]
    texts = bases + [near_copy(t, rng) for t in bases[:20]]
    keys = [f"k{i:03d}" for i in range(len(texts))]
    shingles = [shingle_hashes(t) for t in texts]
    sigs = np.stack([signature(s) for s in shingles])
    found = near_duplicates(keys, sigs, 0.85, similarity=lambda i, j: jaccard(shingles[i], shingles[j]))
    assert found == {30 + i: i for i in range(20)}  # each copy points at its (lower-keyed) original
    estimated = near_duplicates(keys, sigs, 0.85)  # without exact similarity: MinHash estimate
    assert set(estimated) <= set(found) and len(estimated) >= 17


def test_banded_decision_equals_the_lsh_reference():
    # clusters (a base and near copies) and chains (a ~ b ~ c, a !~ c) in shuffled key order: the
    # banded pairs + key-order replay that ingest runs as tasks decide exactly as MinHashLSH in one process
    rng = random.Random(2)
    texts = [prose(rng, 300) for _ in range(20)]
    for base in texts[:6]:
        texts += [near_copy(base, rng) for _ in range(3)]
    for base in texts[6:12]:
        texts += [b := near_copy(base, rng, changes=5), near_copy(b, rng, changes=5)]
    keys = [f"k{rng.random():.9f}" for _ in texts]
    shingles = [shingle_hashes(t) for t in texts]
    sigs = np.stack([signature(s) for s in shingles])
    sim = lambda i, j: jaccard(shingles[i], shingles[j])  # noqa: E731
    reference = near_duplicates(keys, sigs, 0.8, similarity=sim)
    ids = np.arange(len(texts))
    pairs = np.unique(np.concatenate([band_pairs(sigs[:, lo:hi], ids) for lo, hi in lsh_bands(0.8)]), axis=0)
    edges = np.array([p for p in pairs.tolist() if sim(*p) >= 0.8]).reshape(-1, 2)
    assert resolve_near(keys, edges) == reference and len(reference) >= 18

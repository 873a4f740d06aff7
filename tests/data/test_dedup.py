"""MinHash signatures equal datasketch's; exact and near dedup keep the lowest key."""

import random

import numpy as np
from datasketch import MinHash

from cptpipe.data.dedup import NUM_PERM, exact_duplicates, jaccard, minhash, near_duplicates, shingle_hashes, signature
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

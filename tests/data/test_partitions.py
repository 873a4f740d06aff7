"""The partition helpers: shard cuts over partitions equal one sequential cut; partitions sort like keys."""

import numpy as np
import pytest

from cptpipe.data.partitions import bucket_of, partition_of, shard_cuts


def sequential_cut(chars: list[int], shard_docs: int, shard_bytes: int) -> list[int]:
    """Documents per shard as one writer over the whole order would cut them."""
    sizes, n, nbytes = [], 0, 0
    for c in chars:
        if n and (n >= shard_docs or nbytes >= shard_bytes):
            sizes.append(n)
            n, nbytes = 0, 0
        n, nbytes = n + 1, nbytes + c
    return sizes + [n] if n else sizes


@pytest.mark.parametrize("shard_docs,shard_bytes", [(7, 10**9), (10**9, 5_000), (5, 3_000), (1, 1), (3, 1)])
def test_shard_cuts_over_partitions_equal_one_sequential_cut(shard_docs, shard_bytes):
    rng = np.random.default_rng(0)
    for _ in range(20):
        parts = [rng.integers(1, 2_000, rng.integers(0, 12)) for _ in range(rng.integers(1, 6))]
        shards = list(shard_cuts(parts, shard_docs, shard_bytes))
        flat = np.concatenate(parts).tolist()
        assert [sum(hi - lo for _, lo, hi in s) for s in shards] == sequential_cut(flat, shard_docs, shard_bytes)
        order = [(p, i) for s in shards for p, lo, hi in s for i in range(lo, hi)]
        assert order == [(p, i) for p, chars in enumerate(parts) for i in range(len(chars))]  # every row once, in order
        assert all(hi > lo for s in shards for _, lo, hi in s)


def test_partitions_are_key_ranges_and_buckets_depend_on_the_band_only():
    keys = np.sort(np.random.default_rng(1).integers(0, 2**63, 1000, dtype=np.uint64) * np.uint64(2))
    for parts in (1, 3, 16):
        p = partition_of(keys, parts)
        assert p.min() >= 0 and p.max() < parts and (np.diff(p) >= 0).all()  # sorted keys -> sorted partitions
    rows = np.random.default_rng(2).integers(0, 2**32, (50, 6), dtype=np.uint32)
    again = np.concatenate([rows[25:], rows[:25]])
    assert (bucket_of(again, 7) == np.concatenate([bucket_of(rows, 7)[25:], bucket_of(rows, 7)[:25]])).all()
    assert len(set(bucket_of(rows, 7).tolist())) > 3

"""The vectorized sampling, ordering and packing against the piece-by-piece rules they implement, with
chunks smaller than the inputs so every chunk boundary is crossed; the index file's bytes and reading."""

import numpy as np
import pyarrow.parquet as pq
import pytest

from cptpipe.data.tokens import TokenSource
from cptpipe.mix import index, pack
from cptpipe.mix.pack import ROW_GROUP, BlockIndex, Pieces, Segments, padded_starts
from cptpipe.mix.plan import map_random, read_rows


@pytest.fixture(params=[1, 3, 1 << 20], ids=["chunk1", "chunk3", "chunk1M"])
def chunk(request, monkeypatch):
    monkeypatch.setattr(pack, "CHUNK", request.param)
    monkeypatch.setattr(index, "CHUNK", request.param)
    return request.param


def stepwise_padded(lengths, whole, seq_len):
    """The packing rule one piece at a time: a whole piece that starts inside a block and does not fit
    in its rest starts the next block."""
    out, pos = [], 0
    for n, w in zip(lengths, whole):
        fill = pos % seq_len
        if w and fill and fill + n > seq_len:
            pos += seq_len - fill
        out.append(pos)
        pos += n
    return out


def test_padded_starts_by_hand():
    # seq_len 4: a (split) 0-5 | q fits at 5 | q of 3 at 8 | d (split) 11-13 | q of 2 fits at 13, ends the
    # block exactly | q of 4 starts a block | q of 1 at 20 | q of 4 pads to 24 | long whole piece of 9
    # at 28 is split (it starts a block) | q of 2 at 37
    lengths = [5, 3, 3, 2, 2, 4, 1, 4, 9, 2]
    whole = np.array([0, 1, 1, 0, 1, 1, 1, 1, 1, 1], bool)
    assert padded_starts(np.array(lengths), whole, 4).tolist() == [0, 5, 8, 11, 13, 16, 20, 24, 28, 37]
    assert stepwise_padded(lengths, whole, 4) == [0, 5, 8, 11, 13, 16, 20, 24, 28, 37]


@pytest.mark.parametrize("seq_len", [1, 4, 7, 64])
def test_padded_starts_follow_the_rule(chunk, seq_len):
    rng = np.random.default_rng(seq_len)
    for _ in range(60):
        n = int(rng.integers(1, 120))
        lengths = (
            rng.choice([0, 1, seq_len - 1, seq_len, seq_len + 1, 3 * seq_len], n)
            if rng.random() < 0.5
            else rng.integers(0, 2 * seq_len + 1, n)
        )
        whole = rng.random(n) < rng.choice([0.0, 0.3, 0.9, 1.0])
        got = padded_starts(lengths.astype(np.int32), whole, seq_len)
        assert got.tolist() == stepwise_padded(lengths.tolist(), whole.tolist(), seq_len)


def test_pack_same_segments_whatever_the_chunk(monkeypatch):
    rng = np.random.default_rng(0)
    n = 500
    pieces = Pieces(
        ("d", "q", "r"),
        rng.integers(0, 3, n).astype(np.uint8),
        rng.integers(0, 10**9, n),
        rng.integers(0, 90, n).astype(np.int32),
    )
    whole = frozenset({"d", "q"})
    big, pad_big = pack.pack(pieces, 64, whole)
    monkeypatch.setattr(pack, "CHUNK", 7)
    small, pad_small = pack.pack(pieces, 64, whole)
    assert pad_big == pad_small and big.table().equals(small.table())
    assert big.n_blocks * 64 - int(pieces.length.sum()) == pad_big


def stepwise_sample(offsets, lengths, rows, budget, seq_len, rng, whole_rows):
    """sample_source's rule one piece at a time (as cptpipe wrote it before it was vectorized)."""
    starts, lens, have = [], [], 0
    while have < budget:
        for r in rng.permutation(rows):
            off, n = int(offsets[r]), int(lengths[r])
            for p in range(0, 1 if whole_rows else n, seq_len):
                take = min(seq_len, n - p) if whole_rows else min(seq_len, n - p, budget - have)
                starts.append(off + p)
                lens.append(take)
                have += take
                if have >= budget:
                    break
            if have >= budget:
                break
    return starts, lens


@pytest.mark.parametrize("whole_rows", [False, True])
def test_sample_source_draws_and_cuts_as_the_stepwise_rule(chunk, whole_rows):
    rng = np.random.default_rng(1)
    for _ in range(40):
        lengths = rng.choice([0, 1, 5, 8, 9, 30], int(rng.integers(1, 40)))
        offsets = np.concatenate([[0], np.cumsum(lengths)[:-1]])
        eligible = rng.random(len(lengths)) < 0.8
        avail = int(lengths[eligible].sum())
        if not avail:
            continue
        budget = int(rng.choice([1, avail // 2 + 1, avail, 2 * avail + 3]))
        seed = int(rng.integers(1 << 30))
        s = index.sample_source(offsets, lengths, eligible, budget, 8, np.random.default_rng(seed), whole_rows)
        want = stepwise_sample(
            offsets, lengths, np.flatnonzero(eligible), budget, 8, np.random.default_rng(seed), whole_rows
        )
        assert (s.starts.tolist(), s.lengths.tolist()) == want


def stepwise_progressive(is_ramp, lengths, start):
    """progressive_order's rule one piece at a time, with the target in Python floats."""
    total = int(lengths.sum())
    ramp, other = np.flatnonzero(is_ramp).tolist(), np.flatnonzero(~is_ramp).tolist()
    share = float(lengths[ramp].sum()) / total
    start = min(start, share)
    k = index.ramp_slope(start, share)
    x_cap = (1 - start) / k if k > 0 else float("inf")

    def target(t):
        x = t / total
        if x <= x_cap:
            return total * (start * x + k * x * x / 2)
        return total * (start * x_cap + k * x_cap * x_cap / 2 + (x - x_cap))

    order, i, j, placed, ramp_placed = [], 0, 0, 0, 0
    for _ in range(len(lengths)):
        if j >= len(other) or (i < len(ramp) and ramp_placed <= target(placed)):
            order.append(ramp[i])
            ramp_placed += int(lengths[ramp[i]])
            i += 1
        else:
            order.append(other[j])
            j += 1
        placed += int(lengths[order[-1]])
    return order


def test_progressive_order_is_the_stepwise_rule(chunk, monkeypatch):
    rng = np.random.default_rng(2)
    for case in range(60):
        n = int(rng.integers(2, 200))
        is_ramp = rng.random(n) < rng.choice([0.1, 0.5, 0.92])
        is_ramp[0], is_ramp[-1] = True, False  # both kinds present
        lengths = rng.integers(1, 600, n)
        start = float(rng.choice([0.0, 0.3, 0.5, 0.95]))
        want = stepwise_progressive(is_ramp, lengths, start)
        assert index.progressive_order(is_ramp, lengths, start).tolist() == want
        if case % 10 == 0:  # the fallback, as if a rounding had broken monotony
            with monkeypatch.context() as m:
                m.setattr(index, "_follows_ramp_rule", lambda *_: False)
                assert index.progressive_order(is_ramp, lengths, start).tolist() == want


def test_index_file_has_write_table_bytes_and_reads_back(tmp_path):
    """Written a row group at a time, the file has the bytes one pq.write_table of the whole table has
    (so indexes over a million segments keep their digests); BlockIndex reads it back compactly."""
    n = ROW_GROUP + 1000
    rng = np.random.default_rng(3)
    block = np.repeat(np.arange(n // 3 + 1), 3)[:n]
    segs = Segments(
        ("domain", "replay"),
        block,
        rng.integers(0, 2, n).astype(np.uint8),
        rng.integers(0, 10**10, n),
        rng.integers(1, 512, n).astype(np.int32),
        rng.integers(0, 512, n).astype(np.int32),
    )
    segs.write(tmp_path / "rows.parquet")
    pq.write_table(segs.table(), tmp_path / "whole.parquet")
    assert pq.ParquetFile(tmp_path / "rows.parquet").num_row_groups == 2
    assert (tmp_path / "rows.parquet").read_bytes() == (tmp_path / "whole.parquet").read_bytes()
    got = BlockIndex.read(tmp_path / "rows.parquet")
    assert np.asarray(got.names)[got.source].tolist() == np.asarray(segs.names)[segs.source].tolist()
    assert np.array_equal(got.start, segs.start) and np.array_equal(got.length, segs.length)
    assert np.array_equal(got.bounds, np.searchsorted(block, np.arange(block[-1] + 2)))
    assert got.length.dtype == np.int32 and got.source.dtype == np.uint8


def test_block_index_refuses_blocks_out_of_order(tmp_path):
    z = np.zeros(3, np.int32)
    Segments(("d",), np.array([0, 2, 2]), np.zeros(3, np.uint8), np.arange(3), z + 1, z).write(tmp_path / "gap.parquet")
    with pytest.raises(ValueError, match="not in order"):
        BlockIndex.read(tmp_path / "gap.parquet")


def test_read_rows_and_map_random_read_what_token_source_reads(token_dir):
    for name in ("domain", "qa"):
        src = TokenSource(token_dir / name)
        want, got = src.row_arrays(), read_rows(token_dir / name)
        for col in ("offset", "length", "split"):
            assert got[col].tolist() == want[col].tolist(), col
        assert np.array_equal(map_random(token_dir / name / "tokens.npy"), src.tokens)
        assert np.array_equal(map_random(token_dir / name / "mask.npy"), src.mask)

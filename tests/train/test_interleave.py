import numpy as np

from cptpipe.train.interleave import Interleaved, interleave_pattern


def test_pattern_spreads_the_smaller_stream_evenly():
    p = interleave_pattern(6, 3)
    assert p.sum() == 3 and len(p) == 9
    assert all(p[i : i + 3].sum() == 1 for i in range(0, 9, 3))
    assert interleave_pattern(4, 0).sum() == 0 and interleave_pattern(0, 2).all()


def test_every_micro_batch_is_from_one_stream_and_one_pass_reads_both_streams_once():
    a = [("a", i) for i in range(10)]  # 10 document blocks
    b = [("b", i) for i in range(7)]  # 7 QA blocks
    data = Interleaved(a, b, unit=4)
    assert len(data) == (3 + 2) * 4
    items = [data[i] for i in range(len(data))]
    for m in range(0, len(items), 4):
        assert len({src for src, _ in items[m : m + 4]}) == 1
    seen = {it for it in items}
    assert seen == set(a) | set(b)
    firsts = [items[m][0] for m in range(0, len(items), 4)]
    assert firsts != sorted(firsts)  # interleaved, not one stream after the other
    assert np.array_equal(np.array(firsts) == "b", data.from_b)

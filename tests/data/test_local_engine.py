"""LocalEngine: a fresh process per task (what one task holds is its own), many tasks per worker when the
caller says they are light, and each task function's largest peak RSS recorded."""

import os

from cptpipe.data.engine import LocalEngine, TaskPeak


def pid_of(shared: int, job: int) -> tuple[int, int]:
    return shared + job, os.getpid()


def test_every_task_runs_in_a_fresh_process_unless_light():
    engine = LocalEngine(2)
    fresh = list(engine.map(pid_of, 100, list(range(6))))
    assert sorted(r for r, _ in fresh) == list(range(100, 106))
    assert len({pid for _, pid in fresh}) == 6 and os.getpid() not in {pid for _, pid in fresh}
    reused = list(engine.map(pid_of, 100, list(range(6)), light=True))
    assert sorted(r for r, _ in reused) == list(range(100, 106)) and len({pid for _, pid in reused}) <= 2
    peak = engine.peaks["pid_of"]
    assert peak.tasks == 12 and peak.rss > 1 << 20


def test_small_work_runs_inline_and_records_no_task():
    engine = LocalEngine(2)
    assert [pid for _, pid in engine.map(pid_of, 0, [1, 2], small=True)] == [os.getpid()] * 2
    assert engine.peaks == {}


def test_task_peak_keeps_the_largest_and_sums_cpu():
    peak = TaskPeak()
    for rss, cpu in ((3 << 20, 1.0), (5 << 20, 0.5), (4 << 20, 0.25)):
        peak.add(rss, cpu)
    assert peak.as_dict() == {"tasks": 3, "peak_rss_mb": 5.0, "cpu_s": 1.75}

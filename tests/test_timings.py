"""Timings leave the tracked reports for logs/timings/<stage>.json."""

import json

from cptpipe.timings import read_timings, split_timings, write_timings


def test_split_timings_takes_top_level_and_dotted_keys_and_leaves_the_report_untouched():
    report = {"docs": 3, "seconds": 1.5, "engine": {"name": "local", "workers": 2}}
    kept, taken = split_timings(report, ("seconds", "engine.workers", "absent", "absent.inner"))
    assert kept == {"docs": 3, "engine": {"name": "local"}}
    assert taken == {"seconds": 1.5, "engine.workers": 2}
    assert report["seconds"] == 1.5 and report["engine"]["workers"] == 2


def test_write_timings_overwrites_the_stage_file_and_read_timings_reads_it(tmp_path):
    assert read_timings("qa", tmp_path) is None
    write_timings("qa", {"seconds": 1.0}, tmp_path)
    path = write_timings("qa", {"seconds": 2.0}, tmp_path)
    record = json.loads(path.read_text())
    assert record["seconds"] == 2.0 and record["stage"] == "qa" and "finished_at" in record
    assert read_timings("qa", tmp_path) == record and [p.name for p in tmp_path.iterdir()] == ["qa.json"]

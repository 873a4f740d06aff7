"""The hostile-input folder end to end: nothing crashes, every input is accounted for, duplicates
are found without false merges, output is byte-identical between runs and worker counts."""

import hashlib
import json
import os
import random
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import yaml

import cptpipe.data.partitions as partitions_module
from cptpipe.data.ingest import build_documents, run_ingest
from cptpipe.data.partitions import BAND_DOCS
from cptpipe.errors import UserError
from cptpipe.params import IngestParams
from tests.data.ingest_corpus import prose
from tests.helpers import stage_args

ROOT = Path(__file__).resolve().parents[2]
HOW_IT_RAN = ("seconds", "mb_per_s", "engine")
AS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0  # chmod 000 does not stop root from reading


def run(hostile, out: Path, **kw) -> dict:
    out.mkdir(parents=True)
    return run_ingest(hostile.raw, out, IngestParams(text_field=hostile.text_field, **kw), seed=0)


def shard_digests(out: Path) -> dict:
    return {p.name: hashlib.md5(p.read_bytes()).hexdigest() for p in sorted(out.iterdir())}


@pytest.fixture(scope="module")
def outcome(hostile, tmp_path_factory):
    out = tmp_path_factory.mktemp("ingest") / "shards"
    report = run(hostile, out, workers=2)
    rows = [r for f in sorted(out.glob("shard-*.parquet")) for r in pq.read_table(f).to_pylist()]
    return report, rows, out


def test_every_input_is_kept_or_has_a_named_reason(hostile, outcome):
    report, rows, _ = outcome
    on_disk = set()
    for dirpath, _, filenames in os.walk(hostile.raw):
        on_disk |= {(Path(dirpath) / n).relative_to(hostile.raw).as_posix() for n in filenames}
    assert on_disk == set(report["files"])
    assert all(report["files"][f] for f in on_disk)  # each has at least one outcome
    for source, reason in hostile.reasons.items():
        file = source.split(":")[0]
        assert reason in report["files"][file], (source, report["files"][file])
    drops = {(d["source"], d["reason"]) for d in report["drops"]}
    assert ("dump/rows.jsonl:4", "malformed") in drops and ("dump/rows.jsonl:8", "malformed") in drops
    assert report["files"]["dump/rows.jsonl"] == {"kept": 10, "malformed": 2}
    locked = report["files"][hostile.unreadable]
    assert locked == ({"kept": 1} if AS_ROOT else {"unreadable": 1})
    assert report["dropped_files"]["unknown_extension"] == ["odd/photo.png", "odd/report.docx"]
    assert report["files_seen"] == len(on_disk) and report["bytes_in"] > 50_000_000


def test_planted_duplicates_found_without_false_merges(hostile, outcome):
    report, rows, _ = outcome
    kept = {r["source"] for r in rows}
    assert set(hostile.distinct) <= kept  # no distinct document lost to dedup or filters
    exact_found = sum(len(kept & set(pair)) == 1 for pair in hostile.exact)
    near_found = sum(len(kept & set(pair)) == 1 for pair in hostile.near)
    assert exact_found >= 19 and near_found >= 19
    assert report["duplicates"] == {"exact": exact_found, "near": near_found}
    assert len(rows) == len({r["doc_id"] for r in rows}) == report["docs_kept"]


def test_rows_carry_the_titles_and_metadata_the_readers_found(outcome):
    # how each format and encoding is decoded is tested on the readers themselves (test_readers.py)
    _, rows, _ = outcome
    by_source = {r["source"]: r for r in rows}
    assert by_source["web/site0.html"]["title"] == "Site 0"
    assert json.loads(by_source["dump/rows.jsonl:1"]["metadata"]) == {"id": 0, "lang": "xx", "title": "Row 0"}
    assert by_source["dump/rows.jsonl:1"]["title"] == "Row 0"
    assert by_source["pdf/manual0.pdf"]["title"] == "Manual 0"
    assert json.loads(by_source["dump/table.parquet:2"]["metadata"]) == {"score": 0.2}
    assert {r["split"] for r in rows} == {"train", "heldout"}


def test_output_is_byte_identical_between_runs_worker_and_partition_counts(hostile, outcome, tmp_path, monkeypatch):
    report, _, first = outcome
    again = tmp_path / "again"
    run(hostile, again, workers=2)
    assert shard_digests(again) == shard_digests(first)
    inline = tmp_path / "inline"
    run(hostile, inline, workers=1)
    assert shard_digests(inline) == shard_digests(first)
    for partitions, band_docs in ((1, BAND_DOCS), (5, 7), (64, 3)):  # 64: most partitions empty
        monkeypatch.setattr(partitions_module, "BAND_DOCS", band_docs)  # 7: a dozen buckets per band
        out = tmp_path / f"parts{partitions}"
        other = run(hostile, out, workers=2, partitions=partitions)
        assert shard_digests(out) == shard_digests(first), partitions
        assert {k: v for k, v in other.items() if k not in HOW_IT_RAN} == {
            k: v for k, v in report.items() if k not in HOW_IT_RAN
        }
    manifest = json.loads((first / "manifest.json").read_text())
    assert [s["md5"] for s in manifest["shards"]] == [shard_digests(first)[s["file"]] for s in manifest["shards"]]


def test_strict_mode_lists_the_offending_inputs(hostile, tmp_path):
    with pytest.raises(UserError) as err:
        run(hostile, tmp_path / "strict", strict=True)
    message = str(err.value)
    assert "ingest.strict" in message and "dump/rows.jsonl:4: malformed" in message
    assert AS_ROOT or hostile.unreadable in message


def test_adding_documents_never_moves_the_others_between_splits(tmp_path):
    rng = random.Random(5)
    raw = tmp_path / "raw"
    raw.mkdir()
    for i in range(40):
        (raw / f"d{i:02d}.txt").write_text(prose(rng, 80))
    before, _ = build_documents(raw, IngestParams(), seed=0)
    for i in range(40, 80):
        (raw / f"d{i:02d}.txt").write_text(prose(rng, 80))
    after, _ = build_documents(raw, IngestParams(), seed=0)
    split_after = {r["doc_id"]: r["split"] for r in after}
    assert len(after) == 80 and all(split_after[r["doc_id"]] == r["split"] for r in before)


def test_stage_exits_0_on_the_hostile_folder_and_reports(hostile, tmp_path):
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["ingest"]["text_field"] = hostile.text_field
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    (tmp_path / "data").mkdir()
    (tmp_path / "data/raw").symlink_to(hostile.raw)  # a copy would fail on the chmod-000 file
    env = {**os.environ, "PYTHONPATH": f"{ROOT / 'src'}{os.pathsep}{ROOT}"}
    proc = subprocess.run(
        [sys.executable, "-m", "stages.ingest", *stage_args("ingest")],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    report = json.loads((tmp_path / "reports/ingest.json").read_text())
    assert report["docs_kept"] > 50 and "seconds" not in report  # wall-clock: in the untracked log only
    assert json.loads((tmp_path / "logs/timings/ingest.json").read_text())["seconds"] > 0
    assert "docs kept" in proc.stdout and not list((tmp_path / "data").glob(".*"))  # no temp leftovers

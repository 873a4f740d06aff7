"""The drop alarm: a folder built to lose most documents warns with reasons, files and keys, or fails."""

from pathlib import Path

import pytest

from cptpipe.data.documents import Drop
from cptpipe.data.drops import DropLog, drop_alarm, format_alarm
from cptpipe.data.ingest import build_documents, run_ingest
from cptpipe.errors import UserError
from cptpipe.params import IngestParams

SAMPLES = Path(__file__).resolve().parents[2] / "data" / "samples"


def _lossy_folder(root: Path) -> Path:
    """3 real man pages and 5 one-line notes: 5 of 8 documents are too short."""
    raw = root / "raw"
    raw.mkdir()
    for name in ("abs.3.txt", "atoi.3.txt", "sleep.3.txt"):
        (raw / name).write_text((SAMPLES / "manpages" / name).read_text())
    for i in range(5):
        (raw / f"note{i}.txt").write_text(f"TODO item {i}: read the manual.\n")
    return raw


def test_alarm_names_reason_files_and_key(tmp_path):
    _, report = build_documents(_lossy_folder(tmp_path), IngestParams(), seed=0)
    alarm = report["drop_alarm"]
    assert list(report)[0] == "drop_alarm"  # at the top of reports/ingest.json
    assert alarm["dropped_docs_share"] == pytest.approx(5 / 8)
    top = alarm["top_reasons"][0]
    assert top["reason"] == "too_short" and top["docs"] == 5 and top["key"] == "ingest.min_chars"
    assert top["examples"] == ["note0.txt", "note1.txt", "note2.txt"]
    text = format_alarm(alarm)
    assert "too_short" in text and "note0.txt" in text and "ingest.min_chars" in text


def test_no_alarm_under_the_share_or_for_readmes():
    drops = [("a.txt", Drop("a.txt", "too_short", "", 50)), ("README.md", Drop("README.md", "readme"))]
    assert drop_alarm(DropLog.of(drops), docs_kept=9, chars_kept=10_000, max_share=0.2) is None
    big = [("a.txt", Drop("a.txt", "near_duplicate", "kept b.txt", 90_000))]
    alarm = drop_alarm(DropLog.of(big), docs_kept=9, chars_kept=10_000, max_share=0.2)  # 10% of docs but 90% of text
    assert alarm["dropped_bytes_share"] == pytest.approx(0.9) and alarm["top_reasons"][0]["key"] == "ingest.dedup.near"


def test_fail_on_drop_stops_before_writing(tmp_path):
    raw = _lossy_folder(tmp_path)
    out = tmp_path / "shards"
    out.mkdir()
    with pytest.raises(UserError, match=r"(?s)too_short.*ingest\.min_chars.*ingest\.fail_on_drop"):
        run_ingest(raw, out, IngestParams(fail_on_drop=True), seed=0)
    assert not list(out.iterdir())
    report = run_ingest(raw, out, IngestParams(fail_on_drop=True, max_drop_share=0.7), seed=0)
    assert "drop_alarm" not in report and report["docs_kept"] == 3

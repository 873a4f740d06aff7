"""Sections of long documents: headings of Markdown/HTML, man pages and numbered clauses, on real samples."""

from pathlib import Path

from cptpipe.data.documents import doc_id_of, normalize_text
from cptpipe.data.readers import html_to_text
from cptpipe.data.sections import find_sections, heading_of, section_spans

SAMPLES = Path(__file__).resolve().parents[2] / "data" / "samples"


def _text(rel: str) -> str:
    return normalize_text((SAMPLES / rel).read_text(), 3)


def test_heading_of_each_style():
    assert heading_of("## Return value", True, True) == "Return value"
    assert heading_of("RETURN VALUE", True, False) == "RETURN VALUE"  # man prints text right under it
    assert heading_of("ERANGE", True, False) == ""  # a definition-list term, not a heading
    assert heading_of("8. Termination.", True, True) == "8. Termination"
    assert (
        heading_of("4. Redistribution. You may reproduce and distribute copies of the", True, False)
        == "4. Redistribution"
    )
    assert heading_of("0. This License applies to any program or other work which contains", True, False) == "section 0"
    assert heading_of("Signal dispositions", True, True) == "Signal dispositions"
    assert heading_of("RETURN VALUE", False, True) == ""  # mid-paragraph: never a heading


def test_man_page_and_license_split_at_their_headings():
    titles = [t for _, _, t in find_sections(_text("manpages/strtol.3.txt"))]
    assert {"DESCRIPTION", "RETURN VALUE"} <= set(titles)
    gpl = [t for _, _, t in find_sections(_text("licenses/GPL-3.txt"))]
    assert "8. Termination" in gpl and "11. Patents" in gpl and len(gpl) >= 15


def test_sections_cover_the_text_and_short_ones_merge():
    text = _text("licenses/MPL-2.0.txt")
    spans = find_sections(text)
    assert spans[0][0] == 0 and spans[-1][1] == len(text)
    assert all(a[1] == b[0] for a, b in zip(spans, spans[1:]))
    assert all(e - s >= 400 for s, e, _ in spans)


def test_html_h1_h3_become_sections():
    body = "".join(f"<h2>Part {i}</h2><p>{'Words of real prose here. ' * 30}</p>" for i in range(4))
    text, _ = html_to_text(f"<html><body><h1>Manual</h1>{body}</body></html>")
    assert [t for _, _, t in find_sections(text)] == ["Part 0", "Part 1", "Part 2", "Part 3"]


def test_section_spans_only_for_long_documents_and_split_is_stable():
    text = _text("manpages/signal.7.txt")
    doc_id = doc_id_of(text)
    spans = section_spans(text, doc_id, 4000, 0.5, seed=0)
    assert len(spans) >= 5 and {s[3] for s in spans} == {"train", "heldout"}
    assert spans == section_spans(text, doc_id, 4000, 0.5, seed=0)
    assert section_spans(text, doc_id, 0, 0.5, seed=0) == []  # off
    assert section_spans(_text("manpages/abs.3.txt"), "x", 4000, 0.5, seed=0) == []  # short page: one unit

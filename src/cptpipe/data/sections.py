"""Sections of long documents: where a reference page, man page or contract changes topic.

A 30-page manual is one document but many topics; QA mined per section can name the section,
and a per-section held-out split withholds the questions of some sections rather than of whole
manuals. The text and doc_id do not change: sections are character spans stored in the row's
metadata as [start, end, title, split].
"""

from __future__ import annotations

import re

from cptpipe.data.documents import split_of

MIN_SECTION_CHARS = 400  # shorter pieces join a neighbour: a heading with one line is not a topic
_MARKDOWN = re.compile(r"#{1,3} +(\S.{0,118})")  # also what the HTML reader writes for h1-h3
# man/pydoc/contract headings: a line of capitals ("NAME", "RETURN VALUE", "TERMS AND CONDITIONS")
_CAPS = re.compile(r"[A-Z][A-Z0-9 ,&/()'\-]{1,58}[A-Z0-9)]")
# man(7) section names: `man` prints their text right under them, without a blank line
_MAN_SECTIONS = {
    "NAME",
    "SYNOPSIS",
    "DESCRIPTION",
    "OPTIONS",
    "RETURN VALUE",
    "ERRORS",
    "EXAMPLES",
    "EXAMPLE",
    "SEE ALSO",
    "NOTES",
    "BUGS",
    "FILES",
    "ENVIRONMENT",
    "EXIT STATUS",
    "AUTHOR",
    "AUTHORS",
    "HISTORY",
    "STANDARDS",
    "CONFORMING TO",
    "ATTRIBUTES",
    "VERSIONS",
    "LIBRARY",
    "COPYRIGHT",
    "REPORTING BUGS",
    "CAVEATS",
    "COMMANDS",
    "USAGE",
    "CONFIGURATION",
    "SECURITY",
}
# numbered clauses: "1. Definitions.", "2.1 Grants", "Section 4.", "§ 3", "0. This License applies ..."
_CLAUSE = re.compile(
    r"((?:(?:Section|SECTION|Article|ARTICLE|Clause|§) ?)?(\d{1,2}(?:\.\d{1,2})*)\.?)"
    r"(?: +([A-Z\"“].*))?"
)
_SUBHEAD = re.compile(r"[A-Z][\w'’\-]*(?: [\w'’\-()/]+){0,7}")  # "Signal dispositions": short, no final stop


def heading_of(line: str, prev_blank: bool, next_blank: bool) -> str:
    """The heading a line opens ("" if it is not one). Only a line after a blank line (or the first)
    can open a section, so a capitalised word inside a paragraph never does."""
    s = line.strip()
    if not s or not prev_blank:
        return ""
    m = _MARKDOWN.fullmatch(s)
    if m:
        return m.group(1).strip().rstrip("#").strip()
    if _CAPS.fullmatch(s) and sum(c.isalpha() for c in s) >= 3 and (next_blank or s in _MAN_SECTIONS):
        return s
    m = _CLAUSE.fullmatch(s)
    if m and (m.group(3) or m.group(1)[0] in "SsAaC§"):
        # "4. Redistribution. You may ..." -> "4. Redistribution"; a clause without a name -> "section 4"
        rest = m.group(3) or ""
        name = re.match(r"([^.:]{1,60})[.:](?:\s|$)", rest)
        if name and len(name.group(1).split()) <= 8:
            return f"{m.group(1).rstrip('.')}. {name.group(1)}"
        if rest and next_blank and len(rest.split()) <= 8:
            return f"{m.group(1).rstrip('.')}. {rest}"
        return f"section {m.group(2)}"
    if next_blank and _SUBHEAD.fullmatch(s) and any(c.islower() for c in s):
        return s
    return ""


def find_sections(text: str, min_chars: int = MIN_SECTION_CHARS) -> list[tuple[int, int, str]]:
    """(start, end, title) spans covering the text; the part before the first heading is "lead".

    A section shorter than min_chars joins the next one (the last joins the one before), and a
    joined section keeps the title of its longest part.
    """
    lines = text.split("\n")
    starts: list[tuple[int, str]] = [(0, "lead")]
    pos = 0
    for i, line in enumerate(lines):
        prev_blank = i == 0 or not lines[i - 1].strip()
        next_blank = i + 1 >= len(lines) or not lines[i + 1].strip()
        title = heading_of(line, prev_blank, next_blank)
        if title:
            if pos == 0:
                starts[0] = (0, title)
            else:
                starts.append((pos, title))
        pos += len(line) + 1
    spans = [(s, starts[i + 1][0] if i + 1 < len(starts) else len(text), t) for i, (s, t) in enumerate(starts)]
    groups: list[list[tuple[int, int, str]]] = []
    for span in spans:
        if groups and groups[-1][-1][1] - groups[-1][0][0] < min_chars:
            groups[-1].append(span)
        else:
            groups.append([span])
    if len(groups) > 1 and groups[-1][-1][1] - groups[-1][0][0] < min_chars:
        last = groups.pop()
        groups[-1] += last
    return [(g[0][0], g[-1][1], max(g, key=lambda sp: sp[1] - sp[0])[2]) for g in groups]


def section_spans(text: str, doc_id: str, section_chars: int, heldout: float, seed: int) -> list[list]:
    """[start, end, title, split] per section of a document longer than section_chars; [] otherwise.

    The split hashes doc_id and the section's number, so it is as stable as the document's own.
    """
    if not section_chars or len(text) <= section_chars:
        return []
    spans = find_sections(text)
    if len(spans) < 2:
        return []
    return [[s, e, t, split_of(f"{doc_id}#{i}", heldout, seed)] for i, (s, e, t) in enumerate(spans)]

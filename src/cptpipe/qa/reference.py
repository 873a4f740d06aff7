"""QA mining for reference text: man pages, API references, specifications, licenses and contracts.

Encyclopedic patterns ("born in", "founded by") rarely fire on such text; its knowledge sits in
structure instead. Following the relations AdaptLLM mines from raw text (arXiv 2309.09530:
word-to-text definitions, cause/effect and conditional connectives, summaries from titles and
leads), and reading the structure reference pages share, this module mines:

* factual: one-line descriptions (a man page's NAME line), definition lists (an error code or path
  and what it means: "which entry means ...?"), defined terms ('"Licensor" shall mean ...'),
  "which function/system call does X", constraints and numbers with units, procedures
  ("To X, do Y"), and the heading a statement sits under;
* reasoning: conditions ("If X, Y": what happens if X?), causes ("A because B": why?) and the
  number of entries a definition list holds;
* summarization: the lead sentences of the document or of a section.

Every factual answer is a span of the text, so it is grounded by construction; no question
quotes its own answer (the sentence a question quotes is the one the answer was cut from).
"""

from __future__ import annotations

import re

from cptpipe.qa.pairs import Fact, QAPair
from cptpipe.qa.sentences import sentences as split_sentences
from cptpipe.qa.validate import MAX_FACTUAL_WORDS

MAX_QUOTE_WORDS = 30  # a question may quote at most this much of the text
MAX_SUMMARY_WORDS = 70


_IDENT = r"[A-Za-z_][\w.]*\(\d?\w?\)|[A-Z][A-Z0-9_]{2,}|/[\w./\-]*|[a-z][a-z0-9]*_\w+"
_TERM_LINE = re.compile(rf"(?:{_IDENT}|[\w.\-]+(?: [\w.\-]+){{0,3}})")  # a definition-list term
_NAME_LINE = re.compile(r"([\w.:\-]+(?:, [\w.:\-]+){0,6}) [-–—] (\w.{5,120})")
_DEFINED = re.compile(r"^[\"“]([A-Z][\w \-]{1,40})[\"”] (?:shall mean|means|refers to|is defined as) (.+?)\.?$")
_WHICH_FN = re.compile(
    rf"^The ({_IDENT}) (function|system call|macro|command|call|routine|option) "
    r"((?:[a-z]+s) .{10,200}?)\.?$"
)
_CONSTRAINT = re.compile(
    r"(?:^|, |\bthe )(?P<s>[a-z][\w\-]*(?: [a-z][\w\-]*){0,2}),? (?:which |that )?"
    r"(?:must|should|shall|has to|needs to|can only) be (?P<a>(?:between|at least|at most|"
    r"less than|greater than|no more than|no less than|smaller than|larger than|within|"
    r"in the range|one of|a multiple of|a power of) [^,;:]{1,60}?)(?=[,;:.)]|$)"
)
_UNIT_FACT = re.compile(
    r"^(?:On Linux, |In Linux, |Since [^,]{1,30}, )?(?:the |The )?(?P<s>[A-Z][A-Z0-9_]{2,}|"
    r"[a-z][\w\-]*(?: [a-z][\w\-]*){0,3}) (?:is|are|was|has been) (?:currently |usually |"
    r"typically |normally |now )?(?P<a>(?:at least |at most |about )?\d[\d,.]* (?:bytes|"
    r"kilobytes|megabytes|KiB|MiB|kB|seconds|milliseconds|microseconds|nanoseconds|days|"
    r"years|pages|characters|bits|signals|entries))\b"
)
_PROCEDURE = re.compile(r"^To ([a-z][^,]{5,80}), (.{3,140}?)\.?$")
_IF = re.compile(r"^(?:If|When|Whenever|Unless) ([^,]{8,140}), (?:then )?(.{8,200}?)\.?$")
_BECAUSE = re.compile(r"^(.{15,160}?),? because (.{8,160}?)\.?$")


def _words(s: str) -> int:
    return len(s.split())


def sentences(block: str) -> list[str]:
    """Sentences of a prose block (lines joined)."""
    return split_sentences(" ".join(block.split()), digit_starts=False)


def blocks(text: str) -> list[str]:
    return [b.strip() for b in re.split(r"\n\s*\n", text) if b.strip()]


def _is_prose(s: str) -> bool:
    return _words(s) >= 5 and bool(re.search(r"[a-z]", s)) and s[-1:] in ".!?:" and not re.search(r"[{};=]\s*$", s)


def _quote(s: str) -> str:
    return s.rstrip(".:;").strip()


def _about(title: str) -> str:
    return f"In {title}, " if title else ""


_ORDINARY = {
    "the",
    "a",
    "an",
    "this",
    "it",
    "these",
    "those",
    "such",
    "some",
    "any",
    "each",
    "all",
    "no",
    "only",
    "most",
    "there",
    "that",
    "its",
    "their",
    "when",
    "many",
    "both",
    "every",
    "one",
    "you",
    "we",
    "in",
    "on",
}
_LIST_ITEM = re.compile(r"(?:\(?[a-z0-9]{1,2}\)|\d{1,2}\.|[-*•]) ")  # "a) Convey ...", "(b) any new file"
_NOT_TERMS = {"if", "when", "note", "notes", "example", "examples", "then", "otherwise", "also", "however", "see"}


def _fact(rel: str, title: str, question: str, answer: str, kind: str) -> Fact:
    """A fact about the document's subject, asked one way."""
    return Fact(rel, title, answer, kind, (question,))


def _pair(qtype: str, rel: str, question: str, answer: str, kind: str) -> QAPair:
    return QAPair(qtype, question, answer, kind, f"{qtype}/{rel}/0")


def _lc(s: str) -> str:
    """Lower-case a sentence's first word when it is an ordinary word ("The", not "EINVAL" or "Linux")."""
    w = s.split()[0]
    ordinary = w.isalpha() and w[1:].islower() and w.lower() in _ORDINARY
    return s[0].lower() + s[1:] if ordinary else s


# --- factual ------------------------------------------------------------------------------------
def name_line(text: str, title: str) -> list[Fact]:
    """A man page's NAME line: "strtol, strtoll - convert a string to a long integer"."""
    m = next((m for b in blocks(text)[:6] if (m := _NAME_LINE.fullmatch(" ".join(b.split())))), None)
    if not m or _words(m.group(2)) > MAX_FACTUAL_WORDS:
        return []
    names, what = m.group(1), _quote(m.group(2))
    first = names.split(",")[0]
    q = f"What does {first} do, in one line, according to {title or 'its manual'}?"
    return [_fact("one_line", title, q, what, "text")]


def definition_list(text: str, title: str, section: str) -> tuple[list[Fact], list[QAPair]]:
    """Entries "TERM\\ndefinition": which entry means X (factual), and how many entries (reasoning)."""
    facts, terms = [], []
    for b in blocks(text):
        head, _, body = b.partition("\n")
        head = head.strip()
        if (
            not body
            or not _TERM_LINE.fullmatch(head)
            or _words(head) > 4
            or head.endswith(".")
            or head.lower() in _NOT_TERMS
        ):
            continue
        terms.append(head)
        first = sentences(body)[0] if sentences(body) else ""
        first = re.sub(r"^\([^)]{1,40}\) ", "", first)  # "(not in C99) The given base ..."
        if not _is_prose(first) or _words(first) > MAX_QUOTE_WORDS or head.lower() in first.lower():
            continue
        where = f"the {section} section of {title}" if section and section != "lead" else title
        q = f"Which entry of {where} is described as: “{_quote(first)}”?"
        facts.append(_fact("entry", title, q, head, "entity"))
    reasoning = []
    if len(terms) >= 3 and section and section != "lead":
        reasoning.append(
            _pair(
                "reasoning",
                "count_entries",
                f"How many entries does the {section} section of {title} list?",
                str(len(terms)),
                "number",
            )
        )
    return facts, reasoning


def sentence_facts(sent: str, title: str) -> list[Fact]:
    """Facts of one prose sentence: a defined term, which function does X, a constraint, a value, a procedure."""
    out = []
    about = _about(title)
    m = _DEFINED.match(sent)
    if m and 4 <= _words(m.group(2)) <= MAX_QUOTE_WORDS and not m.group(2).endswith(("following", ":")):
        q = f"Which term does {title or 'the text'} define as “{_quote(m.group(2))}”?"
        out.append(_fact("define_term", title, q, m.group(1), "entity"))
    m = _WHICH_FN.match(sent)
    if m and m.group(1).split("(")[0].lower() not in m.group(3).lower():
        q = f"{about}which {m.group(2)} {_quote(m.group(3))}?"
        out.append(_fact("which_function", title, q, m.group(1), "entity"))
    for m in _CONSTRAINT.finditer(sent):
        s, a = m.group("s"), _quote(m.group("a"))
        if _words(a) <= MAX_FACTUAL_WORDS and s not in ("it", "this", "that", "they"):
            out.append(_fact("constraint", title, f"{about}what must the {s} be?", a, "text"))
    m = _UNIT_FACT.match(sent)
    if m and m.group("s").lower() not in ("it", "this", "that", "there", "the result"):
        out.append(_fact("unit_value", title, f"{about}how large is {m.group('s')}?", m.group("a"), "number"))
    m = _PROCEDURE.match(sent)
    if m and _words(m.group(2)) <= MAX_FACTUAL_WORDS:
        q = f"{about}what should you do to {_quote(m.group(1))}?"
        out.append(_fact("procedure", title, q, _quote(m.group(2)), "text"))
    return out


def sentence_reasoning(sent: str, title: str) -> list[QAPair]:
    """Reasoning pairs of one prose sentence: what happens if X (a condition), why (a cause)."""
    out = []
    about = _about(title)
    m = _IF.match(sent)
    if (
        m
        and _words(m.group(2)) <= MAX_QUOTE_WORDS
        and not re.match(r"(?:and|or|but|then|so)\b", m.group(2))
        and m.group(1).count("(") == m.group(1).count(")")
    ):
        q = f"{about}what happens if {_quote(m.group(1))}?"
        out.append(_pair("reasoning", "condition", q, _quote(m.group(2)), "text"))
    m = _BECAUSE.match(sent)
    if m and not m.group(1).lower().startswith(("this is", "that is", "it is")):
        q = f"{about}why is it that {_lc(_quote(m.group(1)))}?"
        out.append(_pair("reasoning", "cause", q, _quote(m.group(2)), "text"))
    return out


def heading_item(text: str, title: str, section: str, doc_text: str) -> list[Fact]:
    """Which heading a statement sits under: "Under which heading of strtol(3) is it stated that ...?"."""
    if not section or section == "lead" or section.startswith("section ") or section not in doc_text:
        return []
    for b in blocks(text)[1:]:
        for s in sentences(b)[:1]:
            if _is_prose(s) and _words(s) <= MAX_QUOTE_WORDS and section.lower() not in s.lower():
                q = f"Under which heading of {title} is it stated: “{_quote(s)}”?"
                return [_fact("which_section", title, q, section, "entity")]
    return []


# --- summarization ------------------------------------------------------------------------------
def lead_summary(text: str, title: str, section: str) -> list[QAPair]:
    """The first prose sentences (up to MAX_SUMMARY_WORDS) of a document or section."""
    picked: list[str] = []
    for b in blocks(text):
        # a summary is made of statements: a synopsis, a "the following:" lead-in or a fragment is not one
        sents = [
            s
            for s in sentences(b)
            if _is_prose(s)
            and s.endswith(".")
            and _words(s) >= 6
            and not _LIST_ITEM.match(s)
            and _quote(s).lower() not in f"{section} {title}".lower()
        ]
        if not sents:
            if picked:
                break
            continue
        for s in sents:
            if _words(" ".join(picked + [s])) > MAX_SUMMARY_WORDS:
                break
            picked.append(s)
        break
    if not picked:
        return []
    what = f"the “{section}” section of {title}" if section and section != "lead" else title or "the document"
    return [_pair("summarization", "lead", f"Summarize {what} in one or two sentences.", " ".join(picked), "text")]


def mine(text: str, title: str, section: str = "", doc_text: str = "") -> tuple[list[Fact], list[QAPair]]:
    """The facts, and the reasoning and summarization pairs, of a document or one of its sections, each
    in text order; the caller picks and validates."""
    facts = name_line(text, title) if not section or section in ("lead", "NAME", "SYNOPSIS") else []
    facts_of_entries, pairs = definition_list(text, title, section)
    facts += facts_of_entries
    for b in blocks(text):
        for s in sentences(b):
            if _is_prose(s):
                facts += sentence_facts(s, title)
                pairs += sentence_reasoning(s, title)
    facts += heading_item(text, title, section, doc_text or text)
    pairs += lead_summary(text, title, section)
    return facts, pairs

"""Rules for technical prose (manuals, API docs), where encyclopedic patterns rarely fire.

Documentation seldom says "X was born in Y"; it says "the maximum page size is 65536 bytes",
"the length(X) function returns the number of characters", "write-ahead log (WAL)", "added in
version 3.8.3". These rules mine such statements, plus a cloze fallback (AdaptLLM's text
completion task, arXiv 2309.09530) for prose that no pattern matches. Every answer is a span
copied from the sentence, so each item is grounded by construction.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator

from cptpipe.qa.pairs import Fact
from cptpipe.qa.validate import MAX_FACTUAL_WORDS

_NUM = r"\d{1,3}(?:,\d{3})+|\d+(?:\.\d+)?"
# Code-ish identifiers: calls, snake_case, ALLCAPS, dotted versions, PRAGMA names.
_IDENT = (
    r"(?:PRAGMA [a-z_]+|[A-Za-z_][\w.]*\([^()\s]{0,20}\)|[A-Za-z][a-z0-9]*_[\w]+(?![\w(])|"
    r"[A-Z][A-Z0-9_]{2,}(?![\w(])|[a-z]+[A-Z]\w*(?![\w(]))"
)
_ENDERS = r"which|that|if|when|unless|because|so|but|while|whereas|although|since|and then|or if"
# A predicate span: up to 10 words, stopping at punctuation or a subordinate clause.
_SPAN = (
    rf"((?:[\w'’\-\.\(\)\"/]+)(?: (?!(?:{_ENDERS})\b)[\w'’\-\.\(\)\"/]+){{0,9}}?)"
    rf"(?=[,;:!?]|\.(?:\s|$)|$| (?:{_ENDERS})\b)"
)
_KINDS = "function|interface|routine|method|pragma|command|statement|macro|API|operator|option|setting|opcode"
_BAD_SUBJ = {
    "it",
    "this",
    "that",
    "these",
    "those",
    "they",
    "there",
    "such",
    "each",
    "some",
    "all",
    "any",
    "both",
    "however",
    "here",
    "one",
    "the result",
    "the reason",
    "the difference",
    "the exception",
    "the problem",
    "the answer",
    "the only difference",
    "the solution",
    "the idea",
    "the goal",
    "the purpose",
    "the point",
    "the effect",
    "the other",
    "the rest",
    "the following",
    "the same",
}
_SMALL = {"of", "and", "the", "a", "an", "for", "to", "in", "on", "with"}
_STOPWORDS = _SMALL | {"is", "are", "was", "were", "be", "it", "this", "that", "or", "as", "by", "at", "not"}

_RULES = [
    (r, re.compile(p), k)
    for r, p, k in [
        # "The maximum page size is 65536 bytes" / "The default timeout is 5 seconds"
        (
            "limit",
            rf"^(?:By default, )?(?:The |the )?(maximum|minimum|default|largest|smallest|initial) "
            rf"((?:[a-z][\w\-]* ){{0,4}}[a-z][\w\-]*) (?:is|are|was) (?:currently |normally |usually |now )?"
            rf"(?:about |around |approximately )?((?:{_NUM})(?: [a-zA-Z]+)?|[A-Z][A-Z_]+|\"[^\"]{{1,30}}\")"
            rf"(?=[.,;:)]|$| )",
            "number",
        ),
        # "The busy timeout defaults to 500"
        (
            "defaults",
            rf"^(?:The |the )?((?:[\w\-\(\)]+ ){{0,4}}[\w\-\(\)]+) defaults to ((?:{_NUM})(?: [a-z]+)?|"
            rf"[A-Z][A-Z_]+|\"[^\"]{{1,30}}\"|[a-z][\w\-]*)(?=[.,;:)]|$| )",
            "entity",
        ),
        # "The length(X) function returns the number of characters in X"
        (
            "returns",
            rf"^(?:For [^,]{{1,40}}, )?(?:The |the )?({_IDENT})(?: (?:SQL |C )?(?:{_KINDS}))? "
            rf"(?:always |normally |usually |simply )?(returns|computes|evaluates to|reports) {_SPAN}",
            "text",
        ),
        # "The json_each() table-valued function was added in version 3.9.0"
        (
            "since_version",
            r"^(?:The |the )?((?:[\w\-\(\)\"]+ ){0,5}[\w\-\(\)\"]+) (?:was|were|is|are) (?:first )?"
            r"(added|introduced|deprecated|removed|enhanced|changed)(?: [a-z ]{0,20}?)? "
            r"(?:in|as of|beginning with|starting with|since) (?:[A-Z][\w]* )?(?:version|release) "
            r"(\d+(?:\.\d+)+)",
            "version",
        ),
    ]
]

_ACRO_AFTER = re.compile(r"((?:[A-Za-z][\w\-]*\s){0,7}[A-Za-z][\w\-]*) \(([A-Z][A-Za-z]{1,7})\)")
_ACRO_BEFORE = re.compile(r"\b([A-Z]{2,8}) \(((?:[A-Za-z][\w\-]*\s){1,7}[A-Za-z][\w\-]*)\)")


def topic_of(paras: list[list[str]], title: str) -> str:
    """A name to anchor closed-book questions: the title when it reads like one, else the most
    frequent capitalised word used mid-sentence (e.g. "SQLite" in its manual pages)."""
    slug = re.search(r"[/:\\_]|\.\w{2,4}$|^[a-z0-9\-]+$|^\S*\d\S*$", title or "")
    if re.fullmatch(r"[\w.\-]+\(\d\w*\)", title or ""):  # a man page, "strtol(3)": the best anchor there is
        slug = None
    if title and not slug and len(title.split()) <= 6:
        return title
    counts = Counter(w for p in paras for s in p for w in re.findall(r"(?<=[a-z,;] )([A-Z][\w\-]+)", s))
    best = [w for w, n in counts.most_common(3) if n >= 3]
    return best[0] if best else ""


def _in(topic: str) -> str:
    return f"In {topic}, " if topic else ""


def _q(prefix: str, body: str) -> str:
    return prefix + (body[0].lower() + body[1:] if prefix else body)


def _subject_ok(s: str) -> bool:
    low = s.lower()
    return bool(s) and low not in _BAD_SUBJ and low.split()[0] not in _BAD_SUBJ and len(s.split()) <= 6


def _expansion(words: list[str], acro: str) -> str:
    """The shortest tail of `words` whose initials spell `acro` (small words may be skipped)."""
    target = acro.rstrip("s").lower() if acro.endswith("s") and acro[:-1].isupper() else acro.lower()
    for start in range(len(words) - 1, -1, -1):
        tail = words[start:]
        initials = "".join(part[0] for w in tail for part in w.split("-") if part and w.lower() not in _SMALL)
        full = "".join(part[0] for w in tail for part in w.split("-") if part)
        if target in (initials.lower(), full.lower()) and tail[0].lower() not in _SMALL:
            return " ".join(tail)
    return ""


def _acronyms(sent: str, topic: str) -> Iterator[Fact]:
    for m in _ACRO_AFTER.finditer(sent):
        exp = _expansion(m.group(1).split(), m.group(2))
        if exp:
            yield Fact(
                "acronym",
                m.group(2),
                exp,
                "entity",
                (f"What does {m.group(2)} stand for?", f"What is {m.group(2)} short for?"),
            )
    for m in _ACRO_BEFORE.finditer(sent):
        words = m.group(2).split()
        if _expansion(words, m.group(1)) == m.group(2):
            yield Fact(
                "acronym",
                m.group(1),
                m.group(2),
                "entity",
                (f"What does {m.group(1)} stand for?", f"What is {m.group(1)} short for?"),
            )


def sentence_facts(sent: str, topic: str) -> Iterator[Fact]:
    yield from _acronyms(sent, topic)
    pre = _in(topic)
    for rel, rx, kind in _RULES:
        m = rx.search(sent)
        if not m:
            continue
        if rel == "limit":
            adj, noun, ans = m.group(1), m.group(2), m.group(3).strip('"')
            kind = "number" if re.match(r"\d", ans) else "entity"
            if ans.split()[-1].lower() in _STOPWORDS | set(_ENDERS.split("|")):
                ans = " ".join(ans.split()[:-1])
            yield Fact(
                f"limit/{adj}",
                noun,
                ans,
                kind,
                (_q(pre, f"What is the {adj} {noun}?"), _q(pre, f"What is the {adj} value of the {noun}?")),
            )
        elif rel == "defaults":
            s, ans = m.group(1), m.group(2).strip('"')
            if _subject_ok(s) and ans.lower() not in _STOPWORDS:
                the = "" if re.match(_IDENT + "$", s) else "the "
                yield Fact(
                    "defaults",
                    s,
                    ans,
                    kind,
                    (_q(pre, f"What does {the}{s} default to?"), _q(pre, f"What is the default of {the}{s}?")),
                )
        elif rel == "returns":
            ident, verb, ans = m.group(1), m.group(2), _clean_span(m.group(3))
            if ans and len(ans.split()) <= MAX_FACTUAL_WORDS:
                what = m.group(0)[: m.start(2)].strip()
                what = re.sub(r"^(?:For [^,]{1,40}, )", "", what)
                what = what[0].lower() + what[1:] if what.startswith("The ") else what
                base = {"returns": "return", "computes": "compute", "evaluates to": "evaluate to", "reports": "report"}[
                    verb
                ]
                yield Fact(
                    "returns/" + base,
                    ident,
                    ans,
                    kind,
                    (f"What does {what} {base}?", _q(pre, f"What does {what} {base}?")),
                )
        elif rel == "since_version":
            s, verb, ans = m.group(1), m.group(2), m.group(3)
            if _subject_ok(s):
                the = "" if re.match(r"[A-Z_\"]|" + _IDENT, s) else "the "
                yield Fact(
                    "since_version/" + verb,
                    s,
                    ans,
                    kind,
                    (
                        _q(pre, f"In which version was {the}{s} {verb}?"),
                        _q(pre, f"Since which version has {the}{s} been {verb}?"),
                    ),
                )


def _clean_span(span: str) -> str:
    span = span.strip(' ,;:"')
    if span.count("(") != span.count(")") or span.count('"') % 2:
        return ""
    return span


# --- cloze fallback ---------------------------------------------------------------------------
# Salient spans to blank out, most informative first: identifiers, numbers with units, quoted
# terms, mid-sentence proper names.
_SALIENT = [
    ("ident", re.compile(rf"\b{_IDENT}")),
    (
        "number",
        re.compile(
            rf"(?<![\w.\-])(?:{_NUM})(?: (?:[a-z]+bytes|bytes|bits|seconds|milliseconds|ms|"
            rf"pages|rows|columns|percent|times|characters|entries|years|days|hours|minutes))?(?![\w\-]|\.\d)"
        ),
    ),
    ("quoted", re.compile(r"\"([^\"]{2,30})\"")),
    ("name", re.compile(r"(?<=[a-z,;] )[A-Z][\w\-]+(?: [A-Z][\w\-]+){0,2}")),
]


def cloze_items(paras: list[list[str]], topic: str, limit: int) -> list[Fact]:
    """Fill-in-the-blank items over sentences that carry a salient span, at most one per sentence."""
    out: list[Fact] = []
    for para in paras:
        for sent in para:
            words = sent.split()
            if not 8 <= len(words) <= 40 or not re.search(r"[.!?]$", sent) or sent.count('"') % 2:
                continue
            for kind, rx in _SALIENT:
                # The blank must be a whole token: "OS/___" or "post-9/___" gives half the answer away.
                m = next(
                    (
                        m
                        for m in rx.finditer(sent)
                        if m.start() > 0
                        and sent[m.start() - 1] in ' "“(‘'
                        and sent[m.end() : m.end() + 1] in ("", *' .,;:)"”’?!')
                    ),
                    None,
                )
                span = m.group(1) if (m and kind == "quoted") else (m.group(0) if m else "")
                # A span the sentence repeats, or the topic itself, would give the answer away.
                if not span or sent.count(span) > 1 or span == topic or len(span.split()) > 6:
                    continue
                masked = sent[: m.start()] + ('"___"' if kind == "quoted" else "___") + sent[m.end() :]
                about = f" about {topic}" if topic else ""
                out.append(
                    Fact(
                        f"cloze/{kind}",
                        topic,
                        span,
                        "number" if kind == "number" else "entity",
                        (
                            f"Complete the statement{about}: “{masked}” What fills the blank?",
                            f"Fill in the blank{about}: “{masked}” What is the missing term?",
                        ),
                    )
                )
                break
            if len(out) >= limit:
                return out
    return out

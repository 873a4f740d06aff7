"""Fact extraction for the rules generator: prose into paragraphs of sentences, subjects resolved, the rules of
cptpipe.qa.lexicon run over every clause."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator

from cptpipe.qa import technical
from cptpipe.qa.lexicon import (
    APPROX,
    BAD_FIRST,
    EVENT,
    INTRO,
    LEMMA,
    NAME,
    NOT_NAMES,
    NTOK,
    NUM,
    PAST,
    PRONOUNS,
    REF_NOUNS,
    SENTENCE_RULES,
    SUBJECT_RULES,
    TOK,
    UNIT,
    UNITS,
)
from cptpipe.qa.pairs import Fact
from cptpipe.qa.sentences import sentences
from cptpipe.qa.validate import MAX_FACTUAL_WORDS, YEAR

MAX_CHARS = 200_000  # longer documents are mined from their head only: bounded time per document


def _clean(answer: str) -> str:
    answer = re.sub(r"^(?:that of |those of )", "", answer.strip())
    answer = re.sub(r"^(?:the|a|an|its|his|her|their) ", "", answer, flags=re.I)
    return answer.strip(" ,;:")


def _ok_text(answer: str) -> bool:
    words = answer.split()
    if not words or len(words) > MAX_FACTUAL_WORDS:
        return False
    first = words[0].lower()
    return first not in BAD_FIRST and not first.endswith(("ly", "ed")) and first not in PRONOUNS


# --- splitting --------------------------------------------------------------------------------
def paragraphs(text: str) -> list[list[str]]:
    """Paragraphs of prose sentences; headings, code and list markup dropped."""
    text = re.sub(r"```.*?```", " ", text[:MAX_CHARS], flags=re.S)
    out = []
    for block in re.split(r"\n\s*\n", text):
        lines = [ln.strip() for ln in block.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
        prose = re.sub(r"\s+", " ", " ".join(re.sub(r"^[-*+>|]\s*", "", ln) for ln in lines)).strip()
        # Emphasis markup goes; underscores inside identifiers (sqlite3_open) stay.
        prose = re.sub(r"[*`]+|(?<!\w)_+|_+(?!\w)", "", prose)
        if prose:
            out.append([s.strip() for s in sentences(prose) if len(s.split()) >= 3])
    return [p for p in out if p]


def _proper_tokens(paras: list[list[str]]) -> set[str]:
    """Capitalised words seen mid-sentence: evidence that a sentence-initial word is a name."""
    seen: set[str] = set()
    for p in paras:
        for s in p:
            seen.update(re.findall(r"(?<=[a-z,;] )([A-Z][\w'’\-]*)", s))
    return seen


def _subject(clause: str, title: str, proper: set[str], last: str) -> tuple[str, str] | None:
    """(subject as a question should name it, rest of the clause) or None when unresolved.

    `title` is the document's main entity; `last` the latest named subject in the paragraph,
    which is what a pronoun most often refers to.
    """
    clause = INTRO.sub("", clause)
    t = re.match(rf"(?:the |The )?({NAME})", clause) if title else None
    if t and t.group(1) == title:
        return title, clause[t.end() :]
    m = re.match(r"(He|She|It|They)\b", clause)
    if m:
        return (last or title), clause[m.end() :]
    m = re.match(r"(?:The|This) ([a-z]+)\b", clause)
    if m:
        return (title, clause[m.end() :]) if m.group(1) in REF_NOUNS and title else None
    m = re.match(rf"The ({NTOK} {NAME})", clause)  # "The Python Software Foundation"
    if m:
        return "the " + m.group(1), clause[m.end() :]
    m = re.match(NAME, clause)
    if not m:
        return None
    name = m.group(0)
    words = name.split()
    if words[0].lower() in NOT_NAMES:
        return None
    if len(words) == 1 and name not in proper and not re.search(r".[A-Z0-9]", name):
        # "Adults have ..." is not a name; "GitHub" or "CPython" is
        return None
    return name, clause[m.end() :]


def _lemma(verb: str) -> str:
    if verb in LEMMA:
        return LEMMA[verb]
    if verb.endswith(("ches", "shes", "sses", "xes")):
        return verb[:-2]
    if verb.endswith("ies"):
        return verb[:-3] + "y"
    return verb[:-1] if verb.endswith("s") else verb


def _clause_facts(clause: str, title: str, proper: set[str], last: str) -> Iterator[Fact]:
    """Facts of one clause: the sentence rules, then the rules over what the clause says of its subject."""
    yield from _sentence_rule_facts(clause, title)
    subj = _subject(clause, title, proper, last)
    if subj is not None:
        yield from _subject_rule_facts(*subj)


def _sentence_rule_facts(clause: str, title: str) -> Iterator[Fact]:
    for rel, rx, kind, qs in SENTENCE_RULES:
        m = rx.search(clause) if rel == "born_paren" else rx.match(clause)
        if not m:
            continue
        g = m.groupdict()
        if rel in ("possessive", "np_of"):
            fact = _possessive_fact(rel, g, title, qs)
            if fact is not None:
                yield fact
            continue
        s = g.get("s") or title
        if s.startswith("the ") and s.split()[-1] in REF_NOUNS:
            s = title
        if not s or s.lower().split()[0] in NOT_NAMES - {"the"}:
            continue
        q = tuple(t.format(S=s, **{k: v for k, v in g.items() if k not in ("s", "a")}) for t in qs)
        ev = f"the birth of {s}" if rel == "born_paren" else ""
        yield Fact(rel, s, g["a"], kind, q, ev)


def _possessive_fact(rel: str, g: dict[str, str], title: str, qs: tuple[str, ...]) -> Fact | None:
    """ "Its population is ..." / "The capital of the country is ...": a fact about the title's entity."""
    answer = _clean(g["a"])
    if not title or not _ok_text(answer) or len(answer.split()) > 5:
        return None
    x = g["x"]
    if rel == "np_of":
        owner = g["of"] in ("his", "her", "its", "their")
        if g.get("y"):
            of = f"{title}'s {g['y']}" if owner else None
        else:
            of = title if (owner or g["of"].split()[-1] in REF_NOUNS) else None
        if of is None:
            return None
        wh = "Who" if re.fullmatch(rf"{TOK} {TOK}", answer) else "What"
        return Fact(rel + "/" + x, title, answer, "text", tuple(t.format(WH=wh, be=g["be"], x=x, OF=of) for t in qs))
    unit = re.fullmatch(rf"{APPROX}{NUM} {UNIT}", answer)
    if unit:
        q = (f"What {g['be']} the {x} of {title} in {unit.group(2)}?",)
        return Fact("measure", title, unit.group(1), "number", q)
    kind = "year" if re.fullmatch(YEAR, answer) else "text"
    return Fact(rel + "/" + x, title, answer, kind, tuple(t.format(be=g["be"], x=x, S=title) for t in qs))


def _subject_rule_facts(s: str, rest: str) -> Iterator[Fact]:
    """Facts of what a clause says of its subject `s` (`rest`: the clause after the subject)."""
    for rel, rx, kind, qs in SUBJECT_RULES:
        m = rx.search(rest)
        if not m:
            continue
        fill, answer, event = _slots(rel, m, s)
        if rel == "by_whom" and fill["V"] != fill["V"].split()[-1]:
            qs = qs[:1]
        if kind in ("text", "entity"):
            answer = _clean(answer)
            if not _ok_text(answer) or (rel == "copula" and len(answer.split()) > 4):
                continue
        if rel in ("when_passive", "born_year") and not re.fullmatch(YEAR, answer):
            continue
        if fill.get("U") in ("m", "g"):  # "5 m" could be minutes; keep it unambiguous
            fill["U"] = UNITS[fill["U"]]
        rel_id = rel + ("/" + fill["V"] if "V" in fill else "")
        yield Fact(rel_id, s, answer, kind, tuple(t.format(**fill) for t in qs), event)


def _slots(rel: str, m: re.Match, s: str) -> tuple[dict[str, str], str, str]:
    """The template slots, the answer and (for a year) the event named by a subject rule's match."""
    fill = {"S": s}
    if rel in ("when_passive", "by_whom"):
        verb = m.group(1)
        base = verb.split()[-1]
        fill["V"] = verb
        fill["P"] = PAST.get(base, base) if verb == base else verb
        if rel == "by_whom":
            return fill, m.group(m.lastindex), ""
        return fill, m.group(m.lastindex), EVENT.get(verb, EVENT.get(base, "the year {S} was " + verb)).format(S=s)
    if rel == "born_year":
        return fill, m.group(1), f"the birth of {s}"
    if rel == "region":
        fill["X"] = m.group(1)
        return fill, m.group(2), ""
    if rel in ("home_to", "parent_of"):
        fill["X"] = m.group(2)
        return fill, m.group(1), ""
    if rel in ("has_n", "verb_n"):
        verb = m.group(1)
        if rel == "has_n":
            fill["DO"] = {"has": "does", "had": "did", "have": "do"}[verb]
        else:
            fill["DO"] = "does" if verb.endswith("s") and verb not in LEMMA else "did"
            fill["L"] = _lemma(verb)
        fill["X"] = m.group(3)
        return fill, m.group(2), ""
    if rel == "measure":
        fill["X"], fill["U"] = m.group(1), m.group(3)
        return fill, m.group(2), ""
    if rel == "measures":
        fill["U"] = m.group(2)
        return fill, m.group(1), ""
    if rel == "makes":
        fill["L"] = _lemma(m.group(1))
        return fill, m.group(2), ""
    return fill, m.group(1), ""


def _main_entity(paras: list[list[str]], title: str) -> str:
    """The title, unless the lead sentence is about a differently named thing ("SQLite manual")."""
    lead = INTRO.sub("", paras[0][0])
    m = re.match(rf"(?:The )?({NAME}) (?:is|was|are|were)\b", lead)
    if (
        m
        and title
        and m.group(1) != title
        and m.group(1).split()[0].lower() not in NOT_NAMES
        and m.group(1).lower() in title.lower()
    ):
        return m.group(1)
    return title


def mine_facts(paras: list[list[str]], title: str) -> list[Fact]:
    """The facts the clause rules find, once per (subject, relation, answer)."""
    proper = _proper_tokens(paras)
    title = _main_entity(paras, title)
    return unknown(_clause_facts_of(paras, title, proper), set(), key=lambda f: (f.subject, f.rel, f.answer.lower()))


def _clause_facts_of(paras: list[list[str]], title: str, proper: set[str]) -> Iterator[Fact]:
    for para in paras:
        last = ""
        for sent in para:
            for clause in re.split(r";\s+", sent.rstrip(".!? ")):
                subj = _subject(clause.strip(), title, proper, last)
                last = subj[0] if subj else last
                yield from _clause_facts(clause.strip(), title, proper, last)


def unknown(
    facts: Iterable[Fact], known: set[tuple], key: Callable[[Fact], tuple] = lambda f: (f.subject, f.answer.lower())
) -> list[Fact]:
    """The facts whose key (by default subject and answer) is not known yet; they become known."""
    out = []
    for f in facts:
        k = key(f)
        if k not in known:
            known.add(k)
            out.append(f)
    return out


def technical_facts(paras: list[list[str]], title: str, known: set, cloze: int) -> list[Fact]:
    """Facts of technical prose, plus `cloze` fill-in-the-blank items when patterns found too few."""
    topic = technical.topic_of(paras, title)
    out = unknown((f for para in paras for sent in para for f in technical.sentence_facts(sent, topic)), known)
    if cloze > len(out):
        out += technical.cloze_items(paras, topic, cloze - len(out))
    return out

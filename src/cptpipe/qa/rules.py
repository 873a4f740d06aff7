"""Rule-based QA mining from prose: no model, generic regexes over sentences.

In the spirit of AdaptLLM's reading-comprehension task mining (arXiv 2309.09530): sentence
patterns (copulas, "born in", "founded in", "headquartered in", numbers with units, "by PERSON")
become closed-book questions that name their entity, with short answers copied from the text so
exact match is meaningful. Two mined years of one document become a reasoning item; the lead
sentence becomes a summarization item.
"""

from __future__ import annotations

import hashlib
import random
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import replace

from cptpipe.qa import reference, technical
from cptpipe.qa.pairs import QA_TYPES, Fact, QAPair, quotas
from cptpipe.qa.validate import MAX_FACTUAL_WORDS, YEAR

MAX_CHARS = 200_000  # longer documents are mined from their head only: bounded time per document


# --- lexical pieces --------------------------------------------------------------------------
_NUM = r"((?:\d{1,3}(?:,\d{3})+|\d+(?:\.\d+)?)(?: (?:thousand|million|billion|trillion))?)"
_TOK = r"[A-Z][\w'’\-]*"
_NTOK = rf"(?:[A-Z]\.|{_TOK})"  # initials too: "D. Richard Hipp"
_NAME = rf"(?:{_NTOK}(?:(?: (?:of|de|da|van|von|del|la|le|and|&))? (?:{_NTOK}|\d+(?:\.\d+)+)){{0,4}})"
_ABBREV = re.compile(r"(?:\b[A-Z]|\b(?:Dr|Mr|Mrs|Ms|St|Jr|Sr|vs|etc|e\.g|i\.e|No|Fig|approx))\.$")
_MONTHS = "January|February|March|April|May|June|July|August|September|October|November|December"
_WHEN = (
    rf"(?:(?:in|on|during) )?(?:(?:the )?(?:early |late |mid-)?(?:spring|summer|autumn|fall|winter|"
    rf"year) (?:of )?)?(?:\d{{1,2}} )?(?:(?:{_MONTHS}) )?(?:\d{{1,2}}, )?{YEAR}\b"
)
# Words that end a short noun-phrase answer.
_STOP = (
    r"and|or|but|for|with|which|who|whom|that|in|at|on|from|since|until|because|by|to|as|"
    r"during|after|before|while|where|when|of|than|via|across|through|near|under|over"
)
_NP = rf"((?:the |a |an )?[\w'’\-]+(?: (?!(?:{_STOP})\b)[\w'’\-]+){{0,5}})(?=[.,;:!?)]|$| (?:{_STOP})\b)"
_APPROX = r"(?:about |around |roughly |approximately |some |nearly |almost |over |more than |up to )?"
_UNITS = {
    "cm": "centimetres",
    "centimetres": "centimetres",
    "centimeters": "centimeters",
    "mm": "millimetres",
    "m": "metres",
    "metres": "metres",
    "meters": "meters",
    "km": "kilometres",
    "kilometres": "kilometres",
    "kg": "kilograms",
    "g": "grams",
    "kilograms": "kilograms",
    "tonnes": "tonnes",
    "MB": "megabytes",
    "GB": "gigabytes",
    "KB": "kilobytes",
}
_UNIT = r"(" + "|".join(sorted(map(re.escape, _UNITS), key=len, reverse=True)) + r")\b"
_PRONOUNS = {"he", "she", "it", "they"}
# "The <noun>" at the start of a sentence refers to the article's entity for these nouns.
_REF_NOUNS = {
    "company",
    "firm",
    "town",
    "city",
    "village",
    "species",
    "language",
    "project",
    "software",
    "program",
    "programme",
    "library",
    "tool",
    "organization",
    "organisation",
    "country",
    "river",
    "band",
    "film",
    "book",
    "game",
    "system",
    "package",
    "framework",
}
_NOT_NAMES = {
    "the",
    "a",
    "an",
    "in",
    "on",
    "at",
    "by",
    "for",
    "from",
    "after",
    "before",
    "during",
    "its",
    "his",
    "her",
    "their",
    "this",
    "that",
    "these",
    "those",
    "some",
    "many",
    "key",
    "today",
    "however",
    "although",
    "when",
    "while",
    "as",
    "since",
    "if",
    "there",
    "here",
}
_BAD_FIRST = {
    "not",
    "never",
    "still",
    "also",
    "now",
    "often",
    "very",
    "so",
    "too",
    "once",
    "rarely",
    "always",
    "usually",
    "largely",
    "mostly",
    "one",
    "famously",
    "difficult",
    "easy",
}
_INTRO = re.compile(
    r"^(?:In (?:summary|short|total|practice|particular|general)|Today|However|Overall|"
    r"Later|Eventually|By training|For (?:many|several|some) years|In later years|"
    r"[A-Z][a-z]+ (?:show|shows|suggest|suggests|indicate|indicates|state|states) that)"
    r",?\s+"
)
_PARTICIPLES = (
    "founded|established|created|formed|incorporated|launched|released|introduced|opened|"
    "built|completed|constructed|published|discovered|described|recorded|collected|named|"
    "designed|developed|invented|started|begun|written|issued|announced|acquired|"
    "renamed|chartered|settled|adopted|deprecated|discontinued|merged|closed|finished"
)
_EVENT = {
    "born": "the birth of {S}",
    "founded": "the founding of {S}",
    "established": "the establishment of {S}",
    "discovered": "the discovery of {S}",
    "first described": "the first description of {S}",
    "released": "the release of {S}",
    "first released": "the first release of {S}",
    "published": "the publication of {S}",
    "built": "the construction of {S}",
    "completed": "the completion of {S}",
    "invented": "the invention of {S}",
    "created": "the creation of {S}",
    "launched": "the launch of {S}",
    "opened": "the opening of {S}",
}
_PAST = {"written": "wrote", "begun": "began", "built": "built", "drawn": "drew", "made": "made"}
_LEMMA = {
    "had": "have",
    "raised": "raise",
    "employed": "employ",
    "published": "publish",
    "wrote": "write",
    "won": "win",
    "sold": "sell",
    "built": "build",
    "recorded": "record",
    "released": "release",
    "produced": "produce",
    "owned": "own",
    "supported": "support",
}


def _clean(answer: str) -> str:
    answer = re.sub(r"^(?:that of |those of )", "", answer.strip())
    answer = re.sub(r"^(?:the|a|an|its|his|her|their) ", "", answer, flags=re.I)
    return answer.strip(" ,;:")


def _ok_text(answer: str) -> bool:
    words = answer.split()
    if not words or len(words) > MAX_FACTUAL_WORDS:
        return False
    first = words[0].lower()
    return first not in _BAD_FIRST and not first.endswith(("ly", "ed")) and first not in _PRONOUNS


# --- splitting --------------------------------------------------------------------------------
def _paragraphs(text: str) -> list[list[str]]:
    """Paragraphs of prose sentences; headings, code and list markup dropped."""
    text = re.sub(r"```.*?```", " ", text[:MAX_CHARS], flags=re.S)
    out = []
    for block in re.split(r"\n\s*\n", text):
        lines = [ln.strip() for ln in block.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
        prose = re.sub(r"\s+", " ", " ".join(re.sub(r"^[-*+>|]\s*", "", ln) for ln in lines)).strip()
        # Emphasis markup goes; underscores inside identifiers (sqlite3_open) stay.
        prose = re.sub(r"[*`]+|(?<!\w)_+|_+(?!\w)", "", prose)
        if prose:
            sents: list[str] = []
            for piece in re.split(r"(?<=[.!?])\s+(?=[A-Z0-9\"“(])", prose):
                if sents and _ABBREV.search(sents[-1]):  # "D. Richard Hipp" is one sentence
                    sents[-1] += " " + piece
                else:
                    sents.append(piece)
            out.append([s.strip() for s in sents if len(s.split()) >= 3])
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
    clause = _INTRO.sub("", clause)
    t = re.match(rf"(?:the |The )?({_NAME})", clause) if title else None
    if t and t.group(1) == title:
        return title, clause[t.end() :]
    m = re.match(r"(He|She|It|They)\b", clause)
    if m:
        return (last or title), clause[m.end() :]
    m = re.match(r"(?:The|This) ([a-z]+)\b", clause)
    if m:
        return (title, clause[m.end() :]) if m.group(1) in _REF_NOUNS and title else None
    m = re.match(rf"The ({_NTOK} {_NAME})", clause)  # "The Python Software Foundation"
    if m:
        return "the " + m.group(1), clause[m.end() :]
    m = re.match(_NAME, clause)
    if not m:
        return None
    name = m.group(0)
    words = name.split()
    if words[0].lower() in _NOT_NAMES:
        return None
    if len(words) == 1 and name not in proper and not re.search(r".[A-Z0-9]", name):
        # "Adults have ..." is not a name; "GitHub" or "CPython" is
        return None
    return name, clause[m.end() :]


# --- factual rules ----------------------------------------------------------------------------
# (relation, regex over the rest of a clause after its subject, answer kind, question templates).
# Group 1 of the regex is the answer; {S} is the subject.
_RULES: list[tuple[str, re.Pattern, str, tuple[str, ...]]] = [
    (r, re.compile(p), k, q)
    for r, p, k, q in [
        (
            "born_year",
            rf"\bborn\b(?: in {_NAME})?,? {_WHEN}",
            "year",
            ("In which year was {S} born?", "When was {S} born?", "What is the birth year of {S}?"),
        ),
        (
            "born_place",
            rf"\bborn in (?:the (?:town|city|village) of )?(?!(?:{_MONTHS})\b)({_NAME})",
            "place",
            ("Where was {S} born?", "In which place was {S} born?", "What is the birthplace of {S}?"),
        ),
        (
            "grew_up",
            rf"\b(?:grew up|was raised) in ({_NAME})",
            "place",
            ("Where did {S} grow up?", "In which place did {S} grow up?"),
        ),
        (
            "native_of",
            rf"\b(?:is|was) a native of ({_NAME})",
            "place",
            ("Of which place was {S} a native?", "{S} was a native of which place?"),
        ),
        (
            "when_passive",
            rf"^(?:, |(?: [^,;]{{0,40}}?)? (?:is|was|were|are|has been|had been|have been) )"
            rf"((?:first |originally |initially |"
            rf"officially |formally )?(?:{_PARTICIPLES}))(?: [a-z ]{{0,30}}?)? {_WHEN}",
            "year",
            ("In which year was {S} {V}?", "When was {S} {V}?", "What year was {S} {V} in?"),
        ),
        (
            "by_whom",
            rf"\b(?:is|was|were|are) ((?:first |originally |jointly )?(?:{_PARTICIPLES}))"
            rf"(?: in {YEAR})? by (?:(?:the |a |an )?[a-z]+ ){{0,2}}?({_NAME})",
            "person",
            ("By whom was {S} {V}?", "Who {P} {S}?"),
        ),
        (
            "employer",
            rf"\b(?:was|is|were|are) employed by ({_NAME})",
            "org",
            ("Which organization employed {S}?", "By which organization was {S} employed?"),
        ),
        (
            "works_for",
            rf"\b(?:worked|works|work) (?:for|at) ({_NAME})",
            "org",
            ("For which organization did {S} work?", "Where did {S} work?"),
        ),
        ("joined", rf"\bjoined ({_NAME})", "org", ("Which organization did {S} join?",)),
        (
            "work_as",
            rf"\b(?:worked|works|served|serves|trained) as {_NP}",
            "text",
            ("What did {S} work as?", "In what role did {S} work?"),
        ),
        (
            "living_as",
            rf"\bmade (?:his|her|their|a) living as {_NP}",
            "text",
            ("How did {S} make a living?", "What did {S} do for a living?"),
        ),
        (
            "copula",
            r"^ (?:is|was) (?:a|an) ((?:[\w'’\-]+ ){0,3}[\w'’\-]+)[.;]?$",
            "text",
            ("What is {S}?", "Describe {S} in a few words."),
        ),
        (
            "hq",
            rf"\b(?:headquartered|based|head-?quartered) in (?:the (?:town|city|village) of )?({_NAME})",
            "place",
            ("Where is {S} headquartered?", "In which place is {S} based?", "Where are the headquarters of {S}?"),
        ),
        (
            "hq2",
            rf"\bhas its (?:headquarters|head office|main office) in ({_NAME})",
            "place",
            ("Where does {S} have its headquarters?", "Where is the head office of {S}?"),
        ),
        (
            "region",
            rf"\b(?:lies|lay|is|was|located|situated|belongs) (?:in|to) the (region|province|county|"
            rf"district|state|country) of ({_NAME})",
            "place",
            ("In which {X} is {S}?", "{S} belongs to which {X}?"),
        ),
        (
            "located",
            rf"\b(?:is|was|are|were) (?:located|situated) in ({_NAME})",
            "place",
            ("Where is {S} located?", "In which place is {S} situated?"),
        ),
        (
            "river",
            rf"\b(?:lies|lay|stands|stood|sits|is|was|located|situated|built|grew up) (?:on|beside|"
            rf"along|by|astride|on the banks? of) the ({_TOK} River|River {_TOK})",
            "place",
            ("On which river does {S} lie?", "Which river is {S} on?"),
        ),
        (
            "population",
            rf"\b(?:has|had) a population of {_APPROX}{_NUM}",
            "number",
            ("What is the population of {S}?", "How many people live in {S}?"),
        ),
        (
            "home_to",
            rf"\bis home to {_APPROX}{_NUM} ([a-z]+)",
            "number",
            ("How many {X} is {S} home to?", "How many {X} does {S} have?"),
        ),
        (
            "has_n",
            rf"^,?(?: [^,;]{{0,30}}?)? (has|had|have) {_APPROX}{_NUM} ([a-z]+)\b",
            "number",
            ("How many {X} {DO} {S} have?", "What number of {X} {DO} {S} have?"),
        ),
        (
            "verb_n",
            rf"\b(raised|employed|published|wrote|won|sold|built|recorded|released|produced|"
            rf"supported|employs|raises|publishes|sells|supports) {_APPROX}{_NUM} ([a-z]+)\b",
            "number",
            ("How many {X} {DO} {S} {L}?",),
        ),
        (
            "parent_of",
            rf"\b(?:is|was) the (?:father|mother|parent) of {_NUM} (children|sons|daughters)",
            "number",
            ("How many {X} did {S} have?", "{S} was the parent of how many {X}?"),
        ),
        (
            "measure",
            rf"\b(?:has|had) an? ([a-z]+) of {_APPROX}{_NUM} {_UNIT}",
            "number",
            ("What is the {X} of {S} in {U}?", "How large is the {X} of {S}, in {U}?"),
        ),
        ("measures", rf"\bmeasures? {_APPROX}{_NUM} {_UNIT}", "number", ("How many {U} does {S} measure?",)),
        (
            "feeds",
            rf"\b(?:feeds|feed|fed|lives|live|survives) (?:mainly |mostly |largely |chiefly )?on {_NP}",
            "text",
            ("What does {S} feed on?", "What is the main food of {S}?"),
        ),
        ("eats", rf"^ (?:eats|eat|ate) {_NP}", "text", ("What does {S} eat?",)),
        (
            "lives_in",
            rf"\b(?:lives|live|is found|are found|makes its home|occurs) (?:mainly |mostly |"
            rf"chiefly |only )?in {_NP}",
            "text",
            ("Where does {S} live?", "In what habitat is {S} found?"),
        ),
        (
            "makes",
            rf"^ (makes|produces|manufactures|builds|sells|publishes|develops) (?!(?:its|his|her|their) ){_NP}",
            "text",
            ("What does {S} {L}?", "Which products does {S} {L}?"),
        ),
        (
            "known_for",
            rf"\b(?:is|was|are|were) (?:best |widely |chiefly |mainly )?known for {_NP}",
            "text",
            ("What is {S} known for?", "For what is {S} best known?"),
        ),
        ("named_after", rf"\b(?:is|was) named after ({_NAME})", "entity", ("After whom or what is {S} named?",)),
        (
            "written_in",
            rf"\b(?:is|was) (?:mainly |mostly |largely )?(?:written|implemented) in ({_NAME})",
            "entity",
            ("In which language is {S} written?",),
        ),
    ]
]

# Sentence-level rules that find their own subject. Group names: a (answer), s (subject), x (noun).
_SENT_RULES = [
    (r, re.compile(p), k, q)
    for r, p, k, q in [
        (
            "possessive",
            r"^(?P<pos>His|Her|Its|Their) (?P<x>(?:[a-z\-]+ ){0,2}[a-z\-]+) (?P<be>is|was|are|were) "
            r"(?P<a>[^,;]+?)\.?$",
            "text",
            ("What {be} the {x} of {S}?",),
        ),
        (
            "np_of",
            r"^The (?P<x>[a-z]+) of (?P<of>his|her|its|their|the [a-z]+) (?:(?P<y>[a-z]+) )?(?P<be>is|was) "
            r"(?P<a>[^,;]+?)\.?$",
            "text",
            ("{WH} {be} the {x} of {OF}?",),
        ),
        (
            "flows",
            rf"^The (?P<a>{_TOK} River|River {_TOK}) (?:flows|runs|passes) through (?:the (?:centre|center|"
            rf"middle|heart) of )?(?P<s>{_NAME})",
            "place",
            ("Which river flows through {S}?",),
        ),
        (
            "n_people",
            rf"^(?:About|Around|Roughly|Some|Over|Nearly|Almost|More than)? ?(?P<a>{_NUM[1:-1]}) "
            rf"(?P<x>people|residents|inhabitants|workers|employees|staff|members) (?P<v>live|work|lived|worked)"
            rf" (?P<p>in|for|at) (?P<s>the [a-z]+|{_NAME})",
            "number",
            ("How many {x} {v} {p} {S}?",),
        ),
        (
            "born_paren",
            rf"(?P<s>{_NAME}) \((?:born|b\.) (?:\d{{1,2}} )?(?:(?:{_MONTHS}) )?(?:\d{{1,2}}, )?"
            rf"(?P<a>{YEAR[1:-1]})\)",
            "year",
            ("In which year was {S} born?", "When was {S} born?"),
        ),
    ]
]


def _lemma(verb: str) -> str:
    if verb in _LEMMA:
        return _LEMMA[verb]
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
    for rel, rx, kind, qs in _SENT_RULES:
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
        if s.startswith("the ") and s.split()[-1] in _REF_NOUNS:
            s = title
        if not s or s.lower().split()[0] in _NOT_NAMES - {"the"}:
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
            of = title if (owner or g["of"].split()[-1] in _REF_NOUNS) else None
        if of is None:
            return None
        wh = "Who" if re.fullmatch(rf"{_TOK} {_TOK}", answer) else "What"
        return Fact(rel + "/" + x, title, answer, "text", tuple(t.format(WH=wh, be=g["be"], x=x, OF=of) for t in qs))
    unit = re.fullmatch(rf"{_APPROX}{_NUM} {_UNIT}", answer)
    if unit:
        q = (f"What {g['be']} the {x} of {title} in {unit.group(2)}?",)
        return Fact("measure", title, unit.group(1), "number", q)
    kind = "year" if re.fullmatch(YEAR, answer) else "text"
    return Fact(rel + "/" + x, title, answer, kind, tuple(t.format(be=g["be"], x=x, S=title) for t in qs))


def _subject_rule_facts(s: str, rest: str) -> Iterator[Fact]:
    """Facts of what a clause says of its subject `s` (`rest`: the clause after the subject)."""
    for rel, rx, kind, qs in _RULES:
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
            fill["U"] = _UNITS[fill["U"]]
        rel_id = rel + ("/" + fill["V"] if "V" in fill else "")
        yield Fact(rel_id, s, answer, kind, tuple(t.format(**fill) for t in qs), event)


def _slots(rel: str, m: re.Match, s: str) -> tuple[dict[str, str], str, str]:
    """The template slots, the answer and (for a year) the event named by a subject rule's match."""
    fill = {"S": s}
    if rel in ("when_passive", "by_whom"):
        verb = m.group(1)
        base = verb.split()[-1]
        fill["V"] = verb
        fill["P"] = _PAST.get(base, base) if verb == base else verb
        if rel == "by_whom":
            return fill, m.group(m.lastindex), ""
        return fill, m.group(m.lastindex), _EVENT.get(verb, _EVENT.get(base, "the year {S} was " + verb)).format(S=s)
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
            fill["DO"] = "does" if verb.endswith("s") and verb not in _LEMMA else "did"
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
    lead = _INTRO.sub("", paras[0][0])
    m = re.match(rf"(?:The )?({_NAME}) (?:is|was|are|were)\b", lead)
    if (
        m
        and title
        and m.group(1) != title
        and m.group(1).split()[0].lower() not in _NOT_NAMES
        and m.group(1).lower() in title.lower()
    ):
        return m.group(1)
    return title


def _facts(paras: list[list[str]], title: str) -> list[Fact]:
    """The facts the clause rules find, once per (subject, relation, answer)."""
    proper = _proper_tokens(paras)
    title = _main_entity(paras, title)
    return _unknown(_clause_facts_of(paras, title, proper), set(), key=lambda f: (f.subject, f.rel, f.answer.lower()))


def _clause_facts_of(paras: list[list[str]], title: str, proper: set[str]) -> Iterator[Fact]:
    for para in paras:
        last = ""
        for sent in para:
            for clause in re.split(r";\s+", sent.rstrip(".!? ")):
                subj = _subject(clause.strip(), title, proper, last)
                last = subj[0] if subj else last
                yield from _clause_facts(clause.strip(), title, proper, last)


def _unknown(
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


def _technical_facts(paras: list[list[str]], title: str, known: set, cloze: int) -> list[Fact]:
    """Facts of technical prose, plus `cloze` fill-in-the-blank items when patterns found too few."""
    topic = technical.topic_of(paras, title)
    out = _unknown((f for para in paras for sent in para for f in technical.sentence_facts(sent, topic)), known)
    if cloze > len(out):
        out += technical.cloze_items(paras, topic, cloze - len(out))
    return out


# --- item builders ----------------------------------------------------------------------------
def _factual(facts: list[Fact], rng: random.Random) -> list[QAPair]:
    """One pair per distinct fact first (template drawn at random), then the other paraphrases."""
    first, rest = [], []
    for f in facts:
        order = list(range(len(f.questions)))
        rng.shuffle(order)
        rel = f.rel.split("/")[0]
        pairs = [
            QAPair(
                "factual",
                f.questions[i],
                f.answer,
                f.answer_kind,
                f"factual/{rel}/{i}",
                paraphrases=tuple(f.questions[j] for j in order if j != i),
            )
            for i in order
        ]
        first.append(pairs[0])
        rest.extend(pairs[1:])
    rng.shuffle(first)
    rng.shuffle(rest)
    return first + rest


def _reasoning(facts: list[Fact], rng: random.Random) -> list[QAPair]:
    """Compare two dated events of one document: order, and the gap in years."""
    events: dict[str, int] = {}
    for f in facts:
        if f.answer_kind == "year" and f.event and f.event not in events:
            events[f.event] = int(f.answer)
    items = list(events.items())
    out = []
    for i, (e1, y1) in enumerate(items):
        for e2, y2 in items[i + 1 :]:
            if y1 == y2:
                continue
            early, late = (e1, e2) if y1 < y2 else (e2, e1)
            a, b = (e1, e2) if rng.random() < 0.5 else (e2, e1)
            gap = str(abs(y2 - y1))
            out += [
                QAPair("reasoning", f"Which happened first: {a} or {b}?", early, "event", "reasoning/first/0"),
                QAPair("reasoning", f"Which came later, {a} or {b}?", late, "event", "reasoning/later/0"),
                QAPair(
                    "reasoning",
                    f"How many years after {early} did {late} take place?",
                    gap,
                    "number",
                    "reasoning/gap/0",
                ),
                QAPair("reasoning", f"How many years passed between {a} and {b}?", gap, "number", "reasoning/gap/1"),
            ]
    rng.shuffle(out)
    return out


def _summaries(paras: list[list[str]], title: str) -> list[QAPair]:
    if not paras or not title:
        return []
    lead = paras[0][0]
    if not re.search(r"[.!?]$", lead) or len(lead.split()) < 4 or lead.rstrip(".!? ").lower() in title.lower():
        return []  # a lead that is the title itself ("Copyright (c) ...") summarizes nothing
    out = [
        QAPair(
            "summarization",
            f"Summarize the article about {title} in one sentence.",
            lead,
            "text",
            "summarization/lead/0",
        )
    ]
    for para in paras[1:]:
        for s in para:
            m = re.match(r"(?:In summary|In short|Overall|To summarize),\s+(.+)", s)
            if m:
                text = m.group(1)[0].upper() + m.group(1)[1:]
                out.append(
                    QAPair(
                        "summarization",
                        f"In one sentence, what are the key facts about {title}?",
                        text,
                        "text",
                        "summarization/closing/0",
                    )
                )
                return out
    return out


# Question-level rewrites for paraphrases beyond a fact's own templates: the same question asked
# in other words, so a fact is seen several ways (Knowledge-Instruct, arXiv 2504.05571).
_REWRITES = (
    "Answer briefly: {q}",
    "Quick question: {q}",
    "Do you know this? {q}",
    "Tell me, from what you have read: {q}",
    "Here is a question about {t}. {q}",
    "Answer with a short phrase. {q}",
)


def paraphrases(pair: QAPair, title: str, k: int, exclude: set[str] = frozenset()) -> list[str]:
    """Up to k other questions with the same answer: the fact's other wordings (the pair's paraphrases as
    generate_pairs made it), then rewrites."""
    q = pair.question
    # The question keeps its capital after a colon: lowercasing would also lowercase a leading name.
    cands = list(pair.paraphrases) + [r.format(q=q, t=title) for r in _REWRITES if title or "{t}" not in r]
    out: list[str] = []
    for c in cands:
        if len(out) < k and c.lower() not in exclude and c not in out and c != q:
            out.append(c)
    return out


def _reference_items(
    text: str, title: str, section: str, doc_text: str, known: set
) -> tuple[list[Fact], list[QAPair], list[QAPair]]:
    """Facts, reasoning and summary pairs of reference text (cptpipe.qa.reference), minus known facts."""
    facts, pairs = reference.mine(text, title, section, doc_text)
    return (
        _unknown(facts, known),
        [p for p in pairs if p.type == "reasoning"],
        [p for p in pairs if p.type == "summarization"],
    )


def generate_pairs(
    title: str, text: str, *, per_doc: int, types: Sequence[str], seed: int, section: str = "", doc_text: str = ""
) -> list[QAPair]:
    """Deterministic for the same inputs; at most per_doc pairs; mixes the requested types.

    section: the heading of the part of a long document that `text` is (doc_text: the whole
    document), so questions and summaries can name it.
    """
    unknown = [t for t in types if t not in QA_TYPES]
    if unknown:
        raise ValueError(f"unknown QA types {unknown}; expected some of {QA_TYPES}")
    title = re.sub(r"\s+", " ", title or "").strip()
    paras = _paragraphs(text or "")
    if per_doc <= 0 or not paras:
        return []
    rng = random.Random(f"{seed}\x00{title}\x00{len(text)}")
    facts = _facts(paras, title)
    known = {(f.subject, f.answer.lower()) for f in facts}
    ref_facts, ref_reasoning, ref_summaries = _reference_items(text or "", title, section, doc_text, known)
    facts += ref_facts
    facts += _technical_facts(paras, title, known, cloze=max(0, per_doc // 2 - len(facts)) if "factual" in types else 0)
    summaries = _summaries(paras, title) if not section else []
    pools = {
        "factual": _factual(facts, rng) if "factual" in types else [],
        "reasoning": _reasoning(facts, rng) + ref_reasoning if "reasoning" in types else [],
        "summarization": (summaries or ref_summaries) if "summarization" in types else [],
    }
    # Quotas keep every requested type present; unused slots go to whatever pool has items left.
    picked: list[QAPair] = []
    for t, n in quotas(per_doc, list(types)).items():
        picked += pools[t][:n]
        pools[t] = pools[t][n:]
    leftovers = pools["factual"] + pools["reasoning"] + pools["summarization"]
    out, seen = [], set()
    for p in picked + leftovers:
        if len(out) >= per_doc:
            break
        key = p.question.lower()
        if key not in seen and p.answer:
            seen.add(key)
            out.append(p)
    return [replace(p, generator="rules", prompt_hash=_template_hash(p.template)) for p in out]


def _template_hash(template: str) -> str:
    """What a rule asked is its template: the prompt hash of a rules pair."""
    return hashlib.sha256(template.encode()).hexdigest()[:12]

"""The data of rule-based QA mining: regex fragments, word lists and the rule tables (cptpipe.qa.extract runs them).

Adding a relation is one row in SUBJECT_RULES (what a clause says of its subject) or SENTENCE_RULES (a sentence
that names its own subject); cptpipe.qa.extract fills its question templates.
"""

from __future__ import annotations

import re

from cptpipe.qa.validate import YEAR

# --- lexical pieces --------------------------------------------------------------------------
NUM = r"((?:\d{1,3}(?:,\d{3})+|\d+(?:\.\d+)?)(?: (?:thousand|million|billion|trillion))?)"
TOK = r"[A-Z][\w'’\-]*"
NTOK = rf"(?:[A-Z]\.|{TOK})"  # initials too: "D. Richard Hipp"
NAME = rf"(?:{NTOK}(?:(?: (?:of|de|da|van|von|del|la|le|and|&))? (?:{NTOK}|\d+(?:\.\d+)+)){{0,4}})"
MONTHS = "January|February|March|April|May|June|July|August|September|October|November|December"
WHEN = (
    rf"(?:(?:in|on|during) )?(?:(?:the )?(?:early |late |mid-)?(?:spring|summer|autumn|fall|winter|"
    rf"year) (?:of )?)?(?:\d{{1,2}} )?(?:(?:{MONTHS}) )?(?:\d{{1,2}}, )?{YEAR}\b"
)
# Words that end a short noun-phrase answer.
STOP = (
    r"and|or|but|for|with|which|who|whom|that|in|at|on|from|since|until|because|by|to|as|"
    r"during|after|before|while|where|when|of|than|via|across|through|near|under|over"
)
NP = rf"((?:the |a |an )?[\w'’\-]+(?: (?!(?:{STOP})\b)[\w'’\-]+){{0,5}})(?=[.,;:!?)]|$| (?:{STOP})\b)"
APPROX = r"(?:about |around |roughly |approximately |some |nearly |almost |over |more than |up to )?"
UNITS = {
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
UNIT = r"(" + "|".join(sorted(map(re.escape, UNITS), key=len, reverse=True)) + r")\b"
PRONOUNS = {"he", "she", "it", "they"}
# "The <noun>" at the start of a sentence refers to the article's entity for these nouns.
REF_NOUNS = {
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
NOT_NAMES = {
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
BAD_FIRST = {
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
INTRO = re.compile(
    r"^(?:In (?:summary|short|total|practice|particular|general)|Today|However|Overall|"
    r"Later|Eventually|By training|For (?:many|several|some) years|In later years|"
    r"[A-Z][a-z]+ (?:show|shows|suggest|suggests|indicate|indicates|state|states) that)"
    r",?\s+"
)
PARTICIPLES = (
    "founded|established|created|formed|incorporated|launched|released|introduced|opened|"
    "built|completed|constructed|published|discovered|described|recorded|collected|named|"
    "designed|developed|invented|started|begun|written|issued|announced|acquired|"
    "renamed|chartered|settled|adopted|deprecated|discontinued|merged|closed|finished"
)
EVENT = {
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
PAST = {"written": "wrote", "begun": "began", "built": "built", "drawn": "drew", "made": "made"}
LEMMA = {
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


# --- factual rules ----------------------------------------------------------------------------
# (relation, regex over the rest of a clause after its subject, answer kind, question templates).
# Group 1 of the regex is the answer; {S} is the subject.
SUBJECT_RULES: list[tuple[str, re.Pattern, str, tuple[str, ...]]] = [
    (r, re.compile(p), k, q)
    for r, p, k, q in [
        (
            "born_year",
            rf"\bborn\b(?: in {NAME})?,? {WHEN}",
            "year",
            ("In which year was {S} born?", "When was {S} born?", "What is the birth year of {S}?"),
        ),
        (
            "born_place",
            rf"\bborn in (?:the (?:town|city|village) of )?(?!(?:{MONTHS})\b)({NAME})",
            "place",
            ("Where was {S} born?", "In which place was {S} born?", "What is the birthplace of {S}?"),
        ),
        (
            "grew_up",
            rf"\b(?:grew up|was raised) in ({NAME})",
            "place",
            ("Where did {S} grow up?", "In which place did {S} grow up?"),
        ),
        (
            "native_of",
            rf"\b(?:is|was) a native of ({NAME})",
            "place",
            ("Of which place was {S} a native?", "{S} was a native of which place?"),
        ),
        (
            "when_passive",
            rf"^(?:, |(?: [^,;]{{0,40}}?)? (?:is|was|were|are|has been|had been|have been) )"
            rf"((?:first |originally |initially |"
            rf"officially |formally )?(?:{PARTICIPLES}))(?: [a-z ]{{0,30}}?)? {WHEN}",
            "year",
            ("In which year was {S} {V}?", "When was {S} {V}?", "What year was {S} {V} in?"),
        ),
        (
            "by_whom",
            rf"\b(?:is|was|were|are) ((?:first |originally |jointly )?(?:{PARTICIPLES}))"
            rf"(?: in {YEAR})? by (?:(?:the |a |an )?[a-z]+ ){{0,2}}?({NAME})",
            "person",
            ("By whom was {S} {V}?", "Who {P} {S}?"),
        ),
        (
            "employer",
            rf"\b(?:was|is|were|are) employed by ({NAME})",
            "org",
            ("Which organization employed {S}?", "By which organization was {S} employed?"),
        ),
        (
            "works_for",
            rf"\b(?:worked|works|work) (?:for|at) ({NAME})",
            "org",
            ("For which organization did {S} work?", "Where did {S} work?"),
        ),
        ("joined", rf"\bjoined ({NAME})", "org", ("Which organization did {S} join?",)),
        (
            "work_as",
            rf"\b(?:worked|works|served|serves|trained) as {NP}",
            "text",
            ("What did {S} work as?", "In what role did {S} work?"),
        ),
        (
            "living_as",
            rf"\bmade (?:his|her|their|a) living as {NP}",
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
            rf"\b(?:headquartered|based|head-?quartered) in (?:the (?:town|city|village) of )?({NAME})",
            "place",
            ("Where is {S} headquartered?", "In which place is {S} based?", "Where are the headquarters of {S}?"),
        ),
        (
            "hq2",
            rf"\bhas its (?:headquarters|head office|main office) in ({NAME})",
            "place",
            ("Where does {S} have its headquarters?", "Where is the head office of {S}?"),
        ),
        (
            "region",
            rf"\b(?:lies|lay|is|was|located|situated|belongs) (?:in|to) the (region|province|county|"
            rf"district|state|country) of ({NAME})",
            "place",
            ("In which {X} is {S}?", "{S} belongs to which {X}?"),
        ),
        (
            "located",
            rf"\b(?:is|was|are|were) (?:located|situated) in ({NAME})",
            "place",
            ("Where is {S} located?", "In which place is {S} situated?"),
        ),
        (
            "river",
            rf"\b(?:lies|lay|stands|stood|sits|is|was|located|situated|built|grew up) (?:on|beside|"
            rf"along|by|astride|on the banks? of) the ({TOK} River|River {TOK})",
            "place",
            ("On which river does {S} lie?", "Which river is {S} on?"),
        ),
        (
            "population",
            rf"\b(?:has|had) a population of {APPROX}{NUM}",
            "number",
            ("What is the population of {S}?", "How many people live in {S}?"),
        ),
        (
            "home_to",
            rf"\bis home to {APPROX}{NUM} ([a-z]+)",
            "number",
            ("How many {X} is {S} home to?", "How many {X} does {S} have?"),
        ),
        (
            "has_n",
            rf"^,?(?: [^,;]{{0,30}}?)? (has|had|have) {APPROX}{NUM} ([a-z]+)\b",
            "number",
            ("How many {X} {DO} {S} have?", "What number of {X} {DO} {S} have?"),
        ),
        (
            "verb_n",
            rf"\b(raised|employed|published|wrote|won|sold|built|recorded|released|produced|"
            rf"supported|employs|raises|publishes|sells|supports) {APPROX}{NUM} ([a-z]+)\b",
            "number",
            ("How many {X} {DO} {S} {L}?",),
        ),
        (
            "parent_of",
            rf"\b(?:is|was) the (?:father|mother|parent) of {NUM} (children|sons|daughters)",
            "number",
            ("How many {X} did {S} have?", "{S} was the parent of how many {X}?"),
        ),
        (
            "measure",
            rf"\b(?:has|had) an? ([a-z]+) of {APPROX}{NUM} {UNIT}",
            "number",
            ("What is the {X} of {S} in {U}?", "How large is the {X} of {S}, in {U}?"),
        ),
        ("measures", rf"\bmeasures? {APPROX}{NUM} {UNIT}", "number", ("How many {U} does {S} measure?",)),
        (
            "feeds",
            rf"\b(?:feeds|feed|fed|lives|live|survives) (?:mainly |mostly |largely |chiefly )?on {NP}",
            "text",
            ("What does {S} feed on?", "What is the main food of {S}?"),
        ),
        ("eats", rf"^ (?:eats|eat|ate) {NP}", "text", ("What does {S} eat?",)),
        (
            "lives_in",
            rf"\b(?:lives|live|is found|are found|makes its home|occurs) (?:mainly |mostly |"
            rf"chiefly |only )?in {NP}",
            "text",
            ("Where does {S} live?", "In what habitat is {S} found?"),
        ),
        (
            "makes",
            rf"^ (makes|produces|manufactures|builds|sells|publishes|develops) (?!(?:its|his|her|their) ){NP}",
            "text",
            ("What does {S} {L}?", "Which products does {S} {L}?"),
        ),
        (
            "known_for",
            rf"\b(?:is|was|are|were) (?:best |widely |chiefly |mainly )?known for {NP}",
            "text",
            ("What is {S} known for?", "For what is {S} best known?"),
        ),
        ("named_after", rf"\b(?:is|was) named after ({NAME})", "entity", ("After whom or what is {S} named?",)),
        (
            "written_in",
            rf"\b(?:is|was) (?:mainly |mostly |largely )?(?:written|implemented) in ({NAME})",
            "entity",
            ("In which language is {S} written?",),
        ),
    ]
]

# Sentence-level rules that find their own subject. Group names: a (answer), s (subject), x (noun).
SENTENCE_RULES = [
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
            rf"^The (?P<a>{TOK} River|River {TOK}) (?:flows|runs|passes) through (?:the (?:centre|center|"
            rf"middle|heart) of )?(?P<s>{NAME})",
            "place",
            ("Which river flows through {S}?",),
        ),
        (
            "n_people",
            rf"^(?:About|Around|Roughly|Some|Over|Nearly|Almost|More than)? ?(?P<a>{NUM[1:-1]}) "
            rf"(?P<x>people|residents|inhabitants|workers|employees|staff|members) (?P<v>live|work|lived|worked)"
            rf" (?P<p>in|for|at) (?P<s>the [a-z]+|{NAME})",
            "number",
            ("How many {x} {v} {p} {S}?",),
        ),
        (
            "born_paren",
            rf"(?P<s>{NAME}) \((?:born|b\.) (?:\d{{1,2}} )?(?:(?:{MONTHS}) )?(?:\d{{1,2}}, )?"
            rf"(?P<a>{YEAR[1:-1]})\)",
            "year",
            ("In which year was {S} born?", "When was {S} born?"),
        ),
    ]
]

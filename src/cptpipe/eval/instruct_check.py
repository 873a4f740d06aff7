"""Verify a response against the code-checkable constraint of an instruction row.

Rows come from data/instruct/generate.py: {"id", "instruction", "response", "constraint"}.
The constraint says what ANY correct response must satisfy, so a model's answer can be scored
without comparing it to the reference response. Checks are lenient about surrounding
whitespace and strict about the constraint itself.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from typing import Any

_BULLET = re.compile(r"^\s*[-*\u2022]\s+\S")
_FENCE = re.compile(r"^```[a-zA-Z]*\s*\n(.*)\n```$", re.DOTALL)


def _norm(text: str) -> str:
    """Collapse whitespace, tidy comma spacing, drop wrapping quotes and a final period."""
    text = " ".join(text.split())
    text = re.sub(r"\s*,\s*", ", ", text)
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'`":
        text = text[1:-1].strip()
    return text.rstrip(".").strip()


def _words(text: str) -> list[str]:
    """Whitespace-separated tokens that contain at least one letter or digit."""
    return [w for w in text.split() if any(c.isalnum() for c in w)]


def _has_word(text: str, word: str) -> bool:
    """The word as a whole word, or its plural ("owls" for "owl"), as IFEval's keyword check admits."""
    return re.search(rf"(?<!\w){re.escape(word)}(?:s|es)?(?!\w)", text, re.IGNORECASE) is not None


def _exact(r: str, c: Mapping[str, Any]) -> bool:
    got, want = _norm(r), _norm(str(c["target"]))
    if c.get("ignore_case", False):
        got, want = got.casefold(), want.casefold()
    return got == want


def _json_object(text: str) -> Any:
    """The response as JSON: whole, inside a code fence, or the outermost {...} a chat model wraps in prose."""
    text = text.strip()
    fenced = _FENCE.match(text)
    candidates = [fenced.group(1).strip()] if fenced else [text]
    if "{" in text and "}" in text:
        candidates.append(text[text.index("{") : text.rindex("}") + 1])
    for candidate in candidates:
        try:
            return json.loads(candidate)
        except ValueError:
            continue
    return None


def _json_key(r: str, c: Mapping[str, Any]) -> bool:
    obj = _json_object(r)
    if not isinstance(obj, dict) or c["key"] not in obj:
        return False
    if "value" not in c or obj[c["key"]] == c["value"]:
        return True
    # {"animal": "The quiet owl"} answers "extract the animal" with the owl: the value names the target
    got = obj[c["key"]]
    return isinstance(got, str) and isinstance(c["value"], str) and _has_word(got, c["value"])


def _bullets(r: str, c: Mapping[str, Any]) -> bool:
    lines = [ln for ln in r.strip().splitlines() if ln.strip()]
    return len(lines) == c["n"] and all(_BULLET.match(ln) for ln in lines)


def _bullets_at_least(r: str, c: Mapping[str, Any]) -> bool:
    """At least n bullet lines; a heading line before the list is allowed."""
    return sum(bool(_BULLET.match(ln)) for ln in r.splitlines()) >= c["n"]


def _quoted(r: str, c: Mapping[str, Any]) -> bool:
    text = r.strip()
    return len(text) >= 2 and text[0] in '"\u201c' and text[-1] in '"\u201d'


def _no_commas(r: str, c: Mapping[str, Any]) -> bool:
    return "," not in r


def _includes(r: str, c: Mapping[str, Any]) -> bool:
    return all(_has_word(r, w) for w in c["words"])


def _excludes(r: str, c: Mapping[str, Any]) -> bool:
    return not any(_has_word(r, w) for w in c["words"])


def _ends_with(r: str, c: Mapping[str, Any]) -> bool:
    return " ".join(r.split()).endswith(" ".join(c["phrase"].split()))


def _starts_with(r: str, c: Mapping[str, Any]) -> bool:
    return " ".join(r.split()).startswith(" ".join(c["phrase"].split()))


def _uppercase(r: str, c: Mapping[str, Any]) -> bool:
    return any(ch.isalpha() for ch in r) and r == r.upper()


def _lowercase(r: str, c: Mapping[str, Any]) -> bool:
    return any(ch.isalpha() for ch in r) and r == r.lower()


def _max_words(r: str, c: Mapping[str, Any]) -> bool:
    return 1 <= len(_words(r)) <= c["n"]


def _min_words(r: str, c: Mapping[str, Any]) -> bool:
    return len(_words(r)) >= c["n"]


def _mentions(r: str, c: Mapping[str, Any]) -> bool:
    """The word (or its plural) at least n times, as IFEval's keyword-frequency check counts."""
    return len(re.findall(rf"(?<!\w){re.escape(c['word'])}(?:s|es)?(?!\w)", r, re.IGNORECASE)) >= c["n"]


def _word_count(r: str, c: Mapping[str, Any]) -> bool:
    return len(_words(r)) == c["n"]


def _all(r: str, c: Mapping[str, Any]) -> bool:
    return all(check(r, sub) for sub in c["of"])


# kind -> (checker, required fields)
_KINDS: dict[str, tuple[Callable[[str, Mapping[str, Any]], bool], tuple[str, ...]]] = {
    "exact": (_exact, ("target",)),
    "json_key": (_json_key, ("key",)),
    "bullets": (_bullets, ("n",)),
    "bullets_at_least": (_bullets_at_least, ("n",)),
    "quoted": (_quoted, ()),
    "no_commas": (_no_commas, ()),
    "includes": (_includes, ("words",)),
    "excludes": (_excludes, ("words",)),
    "ends_with": (_ends_with, ("phrase",)),
    "starts_with": (_starts_with, ("phrase",)),
    "uppercase": (_uppercase, ()),
    "lowercase": (_lowercase, ()),
    "max_words": (_max_words, ("n",)),
    "word_count": (_word_count, ("n",)),
    "min_words": (_min_words, ("n",)),
    "mentions": (_mentions, ("word", "n")),
    "all": (_all, ("of",)),
}
CONSTRAINT_KINDS: tuple[str, ...] = tuple(_KINDS)


def check(response: str, constraint: Mapping[str, Any]) -> bool:
    """True when `response` satisfies the verifiable `constraint` of an instruction row."""
    kind = constraint.get("kind")
    if kind not in _KINDS:
        raise ValueError(f"unknown constraint kind {kind!r}; allowed: {', '.join(CONSTRAINT_KINDS)}")
    fn, required = _KINDS[kind]
    missing = [f for f in required if f not in constraint]
    if missing:
        raise ValueError(f"constraint kind {kind!r} is missing field(s): {', '.join(missing)}")
    return fn(response, constraint)

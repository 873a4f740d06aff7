"""Validation shared by every generator: one pair in, keep or a drop reason out."""

from __future__ import annotations

import re
import string

from cptpipe.qa.pairs import QAPair

MAX_QUESTION_CHARS = 400
MAX_ANSWER_CHARS = 600
MAX_FACTUAL_WORDS = 12  # longer answers make exact match meaningless; the generators ask for at most this
YEAR = r"(1[0-9]{3}|20[0-9]{2})"  # a year as an answer: what reasoning items compare
MIN_SUMMARY_SUPPORT = 0.6  # share of a summary's content words that must occur in the document
_PUNCT = str.maketrans("", "", string.punctuation + "“”‘’")
_FUNCTION_WORDS = {
    "the",
    "a",
    "an",
    "of",
    "and",
    "or",
    "in",
    "on",
    "to",
    "is",
    "are",
    "was",
    "were",
    "it",
    "its",
    "for",
    "by",
    "with",
    "as",
    "at",
    "that",
    "this",
    "from",
    "be",
    "has",
    "have",
}

REASONS = (
    "empty",
    "too_long",
    "unsupported",
    "answer_in_question",
    "duplicate_question",
    "heldout_overlap",
    "over_per_doc",
    "parse_error",
)


def norm_tokens(s: str) -> list[str]:
    return s.lower().translate(_PUNCT).split()


def norm_text(s: str) -> str:
    """Lower-cased words without punctuation, one space apart: how answers, questions and texts compare."""
    return " ".join(norm_tokens(s))


def supported(answer: str, text: str) -> bool:
    """Factual answers must appear in the document (normalized token sequence)."""
    a = norm_text(answer)
    return bool(a) and f" {a} " in f" {norm_text(text)} "


def summary_support(summary: str, text: str) -> float:
    words = [w for w in norm_tokens(summary) if w not in _FUNCTION_WORDS]
    if not words:
        return 0.0
    vocab = set(norm_tokens(text))
    return sum(w in vocab for w in words) / len(words)


def answer_kind(answer: str) -> str:
    """Kind of a free-form answer, so multiple-choice distractors come from like answers."""
    a = answer.strip().rstrip(".")
    if re.fullmatch(YEAR, a):
        return "year"
    if re.fullmatch(r"[\d.,]+(?: [a-zA-Z]+)?", a):
        return "number"
    return "entity" if len(a.split()) <= 4 else "text"


def _answer_in_question(a: str, q: str) -> bool:
    return f" {norm_text(a)} " in f" {norm_text(q)} "


def check(c: QAPair, text: str, seen: set[str]) -> str:
    """'' to keep (and remember the question in `seen`), else the drop reason."""
    q, a = c.question.strip(), c.answer.strip()
    if not q or not a:
        return "empty"
    if len(q) > MAX_QUESTION_CHARS or len(a) > MAX_ANSWER_CHARS:
        return "too_long"
    if c.type == "factual":
        if len(a.split()) > MAX_FACTUAL_WORDS:
            return "too_long"
        if not supported(a, text):
            return "unsupported"
        if _answer_in_question(a, q):
            return "answer_in_question"
    if c.type == "summarization":
        if summary_support(a, text) < MIN_SUMMARY_SUPPORT:
            return "unsupported"
        if _answer_in_question(a, q):  # "Summarize <the summary>"
            return "answer_in_question"
    key = norm_text(q)
    if key in seen:
        return "duplicate_question"
    seen.add(key)
    return ""

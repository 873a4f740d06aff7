"""Validation shared by every generator: one candidate in, keep or a drop reason out."""

from __future__ import annotations

import re
import string
from dataclasses import dataclass

MAX_QUESTION_CHARS = 400
MAX_ANSWER_CHARS = 600
MAX_FACTUAL_WORDS = 12  # longer answers make exact match meaningless
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


@dataclass(frozen=True)
class Candidate:
    """A generated pair before validation, from any generator."""

    type: str  # factual | reasoning | summarization
    question: str
    answer: str
    answer_kind: str
    template: str  # rules: template id; LLMs: "<generator>/<type>"
    generator: str
    prompt_hash: str
    paraphrases: tuple[str, ...] = ()  # other wordings of the question (training docs only)


def norm_tokens(s: str) -> list[str]:
    return s.lower().translate(_PUNCT).split()


def supported(answer: str, text: str) -> bool:
    """Factual answers must appear in the document (normalized token sequence)."""
    a = " ".join(norm_tokens(answer))
    return bool(a) and f" {a} " in f" {' '.join(norm_tokens(text))} "


def summary_support(summary: str, text: str) -> float:
    words = [w for w in norm_tokens(summary) if w not in _FUNCTION_WORDS]
    if not words:
        return 0.0
    vocab = set(norm_tokens(text))
    return sum(w in vocab for w in words) / len(words)


def answer_kind(answer: str) -> str:
    """Kind of a free-form answer, so multiple-choice distractors come from like answers."""
    a = answer.strip().rstrip(".")
    if re.fullmatch(r"(1[0-9]{3}|20[0-9]{2})", a):
        return "year"
    if re.fullmatch(r"[\d.,]+(?: [a-zA-Z]+)?", a):
        return "number"
    return "entity" if len(a.split()) <= 4 else "text"


def question_key(q: str) -> str:
    return " ".join(norm_tokens(q))


def check(c: Candidate, text: str, seen: set[str]) -> str:
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
        if f" {' '.join(norm_tokens(a))} " in f" {question_key(q)} ":
            return "answer_in_question"
    if c.type == "summarization":
        if summary_support(a, text) < MIN_SUMMARY_SUPPORT:
            return "unsupported"
        if f" {' '.join(norm_tokens(a))} " in f" {question_key(q)} ":  # "Summarize <the summary>"
            return "answer_in_question"
    key = question_key(q)
    if key in seen:
        return "duplicate_question"
    seen.add(key)
    return ""

"""Answer normalization shared by the training-time absorption probe and evaluation (SQuAD-style).

A leaf module (stdlib only), so both cptpipe.train and cptpipe.eval import it without a cycle.
"""

from __future__ import annotations

import re
import string

_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCT = str.maketrans("", "", string.punctuation)


def normalize_answer(s: str) -> str:
    """Lowercase, drop punctuation and articles, collapse whitespace."""
    return " ".join(_ARTICLES.sub(" ", s.lower().translate(_PUNCT)).split())


def exact_match(prediction: str, gold: str) -> float:
    return float(normalize_answer(prediction) == normalize_answer(gold))


def span_match(prediction: str, gold: str) -> float:
    """1.0 when the normalized gold answer is a run of whole words of the normalized prediction.

    A chat model answers in a sentence ("Falngate was born in 1867."): exact match scores that 0,
    the answer span it contains scores 1 (as TriviaQA-style "contains" scoring does).
    """
    p, g = normalize_answer(prediction).split(), normalize_answer(gold).split()
    if not g:
        return 0.0
    return float(any(p[i : i + len(g)] == g for i in range(len(p) - len(g) + 1)))

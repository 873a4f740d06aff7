"""Scoring functions used by cptpipe's lm-eval tasks (SQuAD-style answer normalization)."""

from __future__ import annotations

from collections import Counter

from cptpipe.answers import exact_match, normalize_answer, span_match
from cptpipe.eval.instruct_check import check

__all__ = [
    "exact_match",
    "instruct_results",
    "normalize_answer",
    "qa_f1_results",
    "qa_gen_results",
    "recall_results",
    "span_match",
    "token_f1",
]


def token_f1(prediction: str, gold: str) -> float:
    p, g = normalize_answer(prediction).split(), normalize_answer(gold).split()
    if not p or not g:
        return float(p == g)
    common = sum((Counter(p) & Counter(g)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(p), common / len(g)
    return 2 * precision * recall / (precision + recall)


def qa_gen_results(doc: dict, results: list[str]) -> dict[str, float]:
    """lm-eval process_results for closed-book QA generation."""
    pred = results[0].strip()
    return {
        "em": exact_match(pred, doc["answer"]),
        "span_em": span_match(pred, doc["answer"]),
        "f1": token_f1(pred, doc["answer"]),
    }


def recall_results(doc: dict, results: list[str]) -> dict[str, float]:
    """lm-eval process_results for document-sentence completions: does the text go on with the answer?

    A completion runs on past the fact ("copper kettles founded in 1980 and ..."), since nothing in a
    document ends a sentence the way "\n" ends a QA answer, so the answer must be its first words.
    """
    pred, gold = normalize_answer(results[0]), normalize_answer(doc["answer"])
    return {"em": float(bool(gold) and (pred == gold or pred.startswith(gold + " ")))}


def qa_f1_results(doc: dict, results: list[str]) -> dict[str, float]:
    """lm-eval process_results for free-text answers (summaries): token F1 only."""
    return {"f1": token_f1(results[0].strip(), doc["answer"])}


def instruct_results(doc: dict, results: list[str]) -> dict[str, float]:
    """lm-eval process_results for verifiable instructions (cptpipe's IFEval-style checker)."""
    return {"follow": float(check(results[0].strip(), doc["constraint"]))}

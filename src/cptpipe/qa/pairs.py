"""The records of the qa stage and the question types a document's budget is shared among.

Every generator (rules, hf, openai) yields `QAPair`s; one validator keeps or drops each; a kept pair
becomes a row of data/qa. The rule miners first find `Fact`s: one answer about a subject that a
question can ask in several wordings; each wording becomes a pair, the others its paraphrases.
"""

from __future__ import annotations

from dataclasses import dataclass

QA_TYPES = ("factual", "reasoning", "summarization")


@dataclass(frozen=True)
class QAPair:
    """One question and its answer, from any generator, on its way through validation into a row."""

    type: str  # one of QA_TYPES
    question: str
    answer: str  # factual: a short span of the document, so exact match is meaningful
    answer_kind: str  # year | number | place | person | org | entity | text | event: like answers for distractors
    template: str  # rules: template id, e.g. "factual/born_year/2"; models: "<generator>/<type>"
    generator: str = ""  # rules | hf | openai
    prompt_hash: str = ""  # identity of what was asked (a template and its settings), not of the document
    paraphrases: tuple[str, ...] = ()  # other wordings of the question with the same answer


@dataclass(frozen=True)
class Fact:
    """What a rule found, before it is worded: an answer about a subject, and the questions asking for it."""

    rel: str  # relation, e.g. "born_year" or "limit/maximum": the template family of its pairs
    subject: str
    answer: str
    answer_kind: str
    questions: tuple[str, ...]  # the same question in its several wordings
    event: str = ""  # for years: a noun phrase naming what happened, for reasoning items


def quotas(per_doc: int, types: list[str]) -> dict[str, int]:
    """Pairs per type of a document's qa.per_doc: every requested type gets a share, factual the rest."""
    q = {"summarization": max(1, per_doc // 8), "reasoning": max(1, per_doc // 4)}
    out = {t: q[t] for t in ("summarization", "reasoning") if t in types}
    if "factual" in types:
        out["factual"] = max(1, per_doc - sum(out.values()))
    return out

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
from collections.abc import Sequence
from dataclasses import replace

from cptpipe.qa import reference
from cptpipe.qa.extract import mine_facts, paragraphs, technical_facts, unknown
from cptpipe.qa.pairs import QA_TYPES, Fact, QAPair, quotas


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
        unknown(facts, known),
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
    paras = paragraphs(text or "")
    if per_doc <= 0 or not paras:
        return []
    rng = random.Random(f"{seed}\x00{title}\x00{len(text)}")
    facts = mine_facts(paras, title)
    known = {(f.subject, f.answer.lower()) for f in facts}
    ref_facts, ref_reasoning, ref_summaries = _reference_items(text or "", title, section, doc_text, known)
    facts += ref_facts
    facts += technical_facts(paras, title, known, cloze=max(0, per_doc // 2 - len(facts)) if "factual" in types else 0)
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

"""Prompts and reply parsing shared by the model generators (hf, openai).

One prompt per question type asks for JSON. A reply is parsed leniently (code fences, prose
around the JSON, a bare list, one object) because small and chat models rarely reply with JSON
alone; a reply with no usable JSON is counted as a parse error, never a crash.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass

from cptpipe.qa.pairs import QAPair
from cptpipe.qa.validate import MAX_FACTUAL_WORDS, answer_kind

MAX_DOC_CHARS = 12_000  # documents are cut to their head: bounded prompt cost per document

_COMMON = "Reply with JSON only, exactly this shape: {shape}\n\nTitle: {title}\n\nDocument:\n{document}"
PROMPTS = {
    "factual": (
        "Read the document below and write {n} factual questions about it for a closed-book quiz. "
        "Each question must name its subject explicitly (never 'the document' or 'the text'), so it "
        f"can be answered without seeing the document. Each answer must be a short span of at most {MAX_FACTUAL_WORDS} "
        "words copied exactly from the document, and must not appear in the question.{para} "
    ),
    "reasoning": (
        "Read the document below and write {n} questions that can only be answered by combining "
        "two facts it states (comparing or ordering dates or numbers, the difference between two "
        "years, or a two-step lookup). Name the subjects explicitly; keep each answer short. "
    ),
    "summarization": (
        "Read the document below and write {n} summarization items: each question asks to "
        "summarize the document or one of its sections, naming the subject; each answer is a "
        "single sentence that uses the document's own wording. "
    ),
}
_SHAPE = '{{"pairs": [{{"question": "...", "answer": "..."{extra}}}]}}'
_PARA = " For each question also give {k} paraphrases: other wordings of the same question with the same answer."


@dataclass(frozen=True)
class Request:
    """One model call: a document and a question type."""

    doc_index: int
    type: str
    n: int  # pairs asked for
    k: int  # paraphrases asked for per pair
    prompt: str  # the user message
    prompt_hash: str  # hash of the template and its settings, not of the document


def template(qtype: str, n: int, k: int) -> str:
    extra = ', "paraphrases": ["..."]' if (qtype == "factual" and k) else ""
    head = PROMPTS[qtype].format(n=n, para=_PARA.format(k=k) if extra else "")
    return head + _COMMON.replace("{shape}", _SHAPE.format(extra=extra))


def prompt_hash(qtype: str, n: int, k: int, settings: str = "") -> str:
    """Identity of what was asked (template, counts, decoding settings); the same for every doc."""
    return hashlib.sha256(f"{template(qtype, n, k)}\0{settings}".encode()).hexdigest()[:12]


def render(qtype: str, n: int, k: int, title: str, document: str) -> str:
    return (
        template(qtype, n, k).replace("{title}", title or "(untitled)").replace("{document}", document[:MAX_DOC_CHARS])
    )


def _json_values(reply: str):
    """Every JSON object or array embedded in `reply`, fenced blocks first."""
    dec = json.JSONDecoder()
    texts = re.findall(r"```(?:json|JSON)?\s*(.*?)```", reply, flags=re.S) + [reply]
    for text in texts:
        i = 0
        while True:
            starts = [j for j in (text.find("{", i), text.find("[", i)) if j >= 0]
            if not starts:
                break
            j = min(starts)
            try:
                value, end = dec.raw_decode(text, j)
            except json.JSONDecodeError:
                i = j + 1
                continue
            yield value
            i = end


def parse_pairs(reply: str) -> list[dict] | None:
    """[{question, answer, paraphrases?}] from a model reply, or None when nothing parses."""
    for value in _json_values(reply or ""):
        items = value.get("pairs", value.get("questions", [value])) if isinstance(value, dict) else value
        if not isinstance(items, list):
            continue
        pairs = [x for x in items if isinstance(x, dict) and "question" in x and "answer" in x]
        if pairs:
            return pairs
    return None


def candidates(reply: str, qtype: str, generator: str, p_hash: str, k: int) -> list[QAPair] | None:
    """The pairs of a model reply (at most k paraphrases each), or None when nothing parses."""
    items = parse_pairs(reply)
    if items is None:
        return None
    out = []
    for x in items:
        q, a = str(x["question"]).strip(), str(x["answer"]).strip()
        paras = x.get("paraphrases") if isinstance(x.get("paraphrases"), list) else []
        out.append(
            QAPair(
                qtype,
                q,
                a,
                "text" if qtype == "summarization" else answer_kind(a),
                f"{generator}/{qtype}",
                generator,
                p_hash,
                tuple(str(p).strip() for p in paras[:k] if str(p).strip()),
            )
        )
    return out

"""The qa stage: documents -> validated, traceable QA rows, split by document."""

from __future__ import annotations

import hashlib
import re
import string
from collections import Counter, defaultdict

import pyarrow as pa
from cptpipe.progress import bar

from cptpipe.params import QAParams
from cptpipe.qa import rules

QA_SCHEMA = pa.schema([
    ("qa_id", pa.string()), ("doc_id", pa.string()), ("split", pa.string()), ("title", pa.string()),
    ("type", pa.string()), ("question", pa.string()), ("answer", pa.string()),
    ("answer_kind", pa.string()), ("template", pa.string()), ("generator", pa.string()),
    ("prompt_hash", pa.string()),
])

MAX_QUESTION_CHARS = 400
MAX_ANSWER_CHARS = 600
_PUNCT = str.maketrans("", "", string.punctuation)


def norm_tokens(s: str) -> list[str]:
    return s.lower().translate(_PUNCT).split()


def supported(answer: str, text: str) -> bool:
    """Factual answers must appear in the document (normalized token sequence)."""
    a = " ".join(norm_tokens(answer))
    return bool(a) and f" {a} " in f" {' '.join(norm_tokens(text))} "


def validate(pair: rules.QAPair, text: str, seen: set[str]) -> str:
    """'' to keep, else the drop reason."""
    q, a = pair.question.strip(), pair.answer.strip()
    if not q or not a:
        return "empty"
    if len(q) > MAX_QUESTION_CHARS or len(a) > MAX_ANSWER_CHARS:
        return "too_long"
    if pair.type == "factual" and not supported(a, text):
        return "unsupported"
    key = re.sub(r"\s+", " ", q.lower())
    if key in seen:
        return "duplicate_question"
    seen.add(key)
    return ""


def build_qa(docs: pa.Table, params: QAParams, seed: int) -> tuple[list[dict], dict]:
    """QA rows for every document (split carried from ingest) and the stage report."""
    if params.generator != "rules":
        from cptpipe.errors import UserError

        raise UserError(f"qa.generator: {params.generator!r} is not available in this build yet; use 'rules'")
    rows: list[dict] = []
    dropped: Counter = Counter()
    kept_by_type: Counter = Counter()
    per_doc: dict[str, int] = defaultdict(int)
    for doc in bar(docs.to_pylist(), desc="qa: rules", unit="doc"):
        seen: set[str] = set()
        pairs = rules.generate_pairs(doc["title"], doc["text"], per_doc=params.per_doc,
                                     types=list(params.types), seed=seed)
        for i, pair in enumerate(pairs):
            reason = validate(pair, doc["text"], seen)
            if reason:
                dropped[reason] += 1
                continue
            kept_by_type[pair.type] += 1
            per_doc[doc["doc_id"]] += 1
            rows.append({
                "qa_id": f"{doc['doc_id']}-{i:02d}", "doc_id": doc["doc_id"], "split": doc["split"],
                "title": doc["title"], "type": pair.type, "question": pair.question.strip(),
                "answer": pair.answer.strip(), "answer_kind": pair.answer_kind, "template": pair.template,
                "generator": "rules", "prompt_hash": hashlib.sha256(pair.template.encode()).hexdigest()[:12],
            })
    counts = list(per_doc.values()) + [0] * (docs.num_rows - len(per_doc))
    report = {
        "generator": params.generator, "docs": docs.num_rows, "pairs": len(rows),
        "pairs_per_doc": round(sum(counts) / max(1, len(counts)), 3),
        "docs_without_pairs": docs.num_rows - len(per_doc),
        "kept_by_type": dict(sorted(kept_by_type.items())), "dropped": dict(sorted(dropped.items())),
        "by_split": dict(Counter(r["split"] for r in rows)),
    }
    return rows, report

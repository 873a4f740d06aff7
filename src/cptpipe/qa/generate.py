"""The qa stage: documents -> validated, traceable QA rows, split by document.

Every generator (rules, hf, openai) yields QAPairs (cptpipe.qa.pairs) per document; one validator
keeps or drops each with a reason; rows carry the document's ingest split, so held-out documents
only ever give held-out pairs. Paraphrases (qa.paraphrases) are added for training-split documents only.
"""

from __future__ import annotations

import json
import re
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field, replace
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from cptpipe.data.documents import split_key
from cptpipe.data.sources import SPLITS
from cptpipe.errors import UserError
from cptpipe.io import atomic_dir
from cptpipe.params import QAParams
from cptpipe.progress import bar
from cptpipe.qa import cache as qa_cache
from cptpipe.qa import llm, rules
from cptpipe.qa.pairs import QAPair, quotas
from cptpipe.qa.validate import check, norm_text

QA_COLUMNS = (
    "qa_id",
    "doc_id",
    "split",
    "title",
    "type",
    "question",
    "answer",
    "answer_kind",
    "template",
    "generator",
    "prompt_hash",
    "paraphrase_of",
)
QA_SCHEMA = pa.schema([(name, pa.string()) for name in QA_COLUMNS])


# --- units: a document, or each section of a long one ------------------------------------------
def units_of(doc: dict) -> list[dict]:
    """The document itself, or one unit per section that ingest found (metadata "sections": [start,
    end, title, split]); a unit carries its section's split, so held-out questions are withheld per
    section, and its doc_id stays the document's."""
    try:
        sections = json.loads(doc.get("metadata") or "{}").get("sections") or []
    except (ValueError, AttributeError):
        sections = []
    if not sections:
        return [dict(doc, section="", doc_text=doc["text"])]
    return [
        dict(doc, text=doc["text"][start:end], split=split, section=title, doc_text=doc["text"])
        for start, end, title, split in sections
    ]


# --- generators: docs -> pairs per doc ---------------------------------------------------------
def _paraphrase_count(doc: dict, params: QAParams) -> int:
    """qa.paraphrases for a training unit; none for a held-out one (paraphrases are training signal)."""
    return params.paraphrases if doc["split"] == "train" else 0


RULES_TASK_UNITS = 256  # units per task when the rules run on an engine (ingest.engine: ray)


def rules_pairs(doc: dict, params: QAParams, seed: int) -> list[QAPair]:
    """The rules generator's pairs of one unit, with paraphrases for a training unit."""
    pairs = rules.generate_pairs(
        doc["title"],
        doc["text"],
        per_doc=params.per_doc,
        types=list(params.types),
        seed=seed,
        section=doc["section"],
        doc_text=doc["doc_text"],
    )
    asked = {p.question.lower() for p in pairs}
    k = _paraphrase_count(doc, params)
    worded = []
    for p in pairs:
        paras = ()
        if k and p.type == "factual":
            paras = tuple(rules.paraphrases(p, doc["title"], k, asked))
            asked |= {q.lower() for q in paras}
        worded.append(replace(p, paraphrases=paras))
    return worded


def _rules_task(shared: tuple[QAParams, int], job: tuple[int, list[dict]]) -> tuple[int, list[list[QAPair]]]:
    first, docs = job
    return first, [rules_pairs(d, *shared) for d in docs]


def _rules(docs: list[dict], params: QAParams, seed: int, engine=None) -> list[list[QAPair]]:
    """Per unit, in order. The rules are a pure function of the unit, so an engine (Ray) may mine
    slices of units anywhere; the selection that follows sees the same pairs either way."""
    if engine is None:
        return [rules_pairs(d, params, seed) for d in bar(docs, desc="qa: rules", unit="doc")]
    jobs = [(i, docs[i : i + RULES_TASK_UNITS]) for i in range(0, len(docs), RULES_TASK_UNITS)]
    out: list[list[QAPair]] = [[] for _ in docs]
    progress = bar(total=len(docs), desc=f"qa: rules ({engine.name})", unit="doc")
    for first, pairs in engine.map(_rules_task, (params, seed), jobs):
        out[first : first + len(pairs)] = pairs
        progress.update(len(pairs))
    progress.close()
    return out


def _requests(docs: list[dict], params: QAParams, settings: str) -> list[llm.Request]:
    reqs = []
    for i, doc in enumerate(docs):
        for qtype, n in quotas(params.per_doc, list(params.types)).items():
            k = _paraphrase_count(doc, params) if qtype == "factual" else 0
            prompt = llm.render(qtype, n, k, doc["title"], doc["text"])
            reqs.append(llm.Request(i, qtype, n, k, prompt, llm.prompt_hash(qtype, n, k, settings)))
    return reqs


def _collect(docs, reqs, replies: dict[int, str], params: QAParams, generator: str, stats: dict):
    out: list[list[QAPair]] = [[] for _ in docs]
    for j, req in enumerate(reqs):
        # not only factual requests: paraphrases a reply gives unasked are kept too, up to qa.paraphrases
        k = _paraphrase_count(docs[req.doc_index], params)
        pairs = llm.candidates(replies[j], req.type, generator, req.prompt_hash, k)
        if pairs is None:
            stats["parse_errors"][req.type] += 1
            continue
        out[req.doc_index].extend(pairs)
    return out


def _hf(docs: list[dict], params: QAParams, seed: int, stats: dict) -> list[list[QAPair]]:
    import torch

    from cptpipe.qa import hf

    torch.manual_seed(seed)
    model, tok, device = hf.load(params.model)
    context = hf.context_of(model, tok)
    budget = context - params.max_new_tokens
    if budget < 32:
        raise UserError(
            f"qa.max_new_tokens: {params.max_new_tokens} leaves {budget} prompt tokens in the "
            f"{context}-token context of qa.model {params.model!r}; lower qa.max_new_tokens"
        )
    settings = f"hf;greedy;max_new_tokens={params.max_new_tokens}"
    reqs = _requests(docs, params, settings)
    texts = []
    for r in reqs:
        doc = docs[r.doc_index]
        texts.append(
            hf.fit_document(
                lambda d, r=r, doc=doc: hf.chat_text(llm.render(r.type, r.n, r.k, doc["title"], d), tok),
                doc["text"][: llm.MAX_DOC_CHARS],
                tok,
                budget,
            )
        )
    # Longest first: similar lengths share a batch (less padding), and an OOM shows up at once.
    order = sorted(range(len(texts)), key=lambda j: -len(texts[j]))
    replies: dict[int, str] = {}
    for start in bar(range(0, len(order), params.batch_size), desc=f"qa: hf ({device})", unit="batch"):
        idx = order[start : start + params.batch_size]
        for j, reply in zip(
            idx, hf.generate(model, tok, device, [texts[j] for j in idx], params.max_new_tokens, budget)
        ):
            replies[j] = reply
    stats.update(model=params.model, device=device, requests=len(reqs))
    return _collect(docs, reqs, replies, params, "hf", stats)


def _openai(docs: list[dict], params: QAParams, seed: int, stats: dict, cache_dir: Path) -> list[list[QAPair]]:
    from cptpipe.qa.endpoint import ChatClient, run_requests

    ep = params.endpoint
    client = ChatClient(ep, params.max_new_tokens)
    reqs = _requests(docs, params, client.settings())
    cache = qa_cache.ReplyCache(cache_dir)
    hashes = [qa_cache.doc_hash(d["title"], d["text"]) for d in docs]
    replies: dict[int, str] = {}
    todo = []
    for j, r in enumerate(reqs):
        hit = cache.get(hashes[r.doc_index], r.prompt_hash, ep.model)
        if hit is None:
            todo.append((j, r))
        else:
            replies[j] = hit

    class _Job:  # what run_requests hands back to on_reply
        def __init__(self, j, r):
            self.j, self.req, self.prompt = j, r, r.prompt

    def on_reply(job, reply: str) -> None:
        cache.put(hashes[job.req.doc_index], job.req.prompt_hash, ep.model, reply)
        replies[job.j] = reply

    stats.update(model=ep.model, requests=len(reqs), cache_hits=len(reqs) - len(todo))
    with bar(total=len(todo), desc="qa: openai", unit="req") as progress:
        try:
            run_requests(client, [_Job(j, r) for j, r in todo], on_reply, ep.concurrency, progress)
        finally:
            stats["retries"] = client.retries
    return _collect(docs, reqs, replies, params, "openai", stats)


# --- validation and rows ----------------------------------------------------------------------
def build_qa(
    docs_table: pa.Table, params: QAParams, seed: int, cache_dir: str | Path | None = None, engine=None
) -> tuple[list[dict], dict]:
    """QA rows for every document (split carried from ingest) and the stage report. `engine`
    (cptpipe.data.engine) runs the rules generator's mining as tasks; the others ignore it."""
    t0 = time.time()
    whole = docs_table.to_pylist()
    # QA is mined, budgeted (qa.per_doc) and split per unit: a long document's sections are units
    docs = [u for d in whole for u in units_of(d)]
    stats: dict = {"parse_errors": Counter()}
    pairs = _generate(docs, params, seed, stats, cache_dir, engine)
    sel = _Selection()
    # Held-out documents first: a training document that restates a held-out fact (a company
    # article giving its founder's birth year) must not train the very question held out.
    for i in sorted(range(len(docs)), key=lambda i: docs[i]["split"] != "heldout"):
        _select(docs[i], pairs[i], params, sel)
    for qtype, count in stats.pop("parse_errors").items():
        sel.dropped[qtype]["parse_error"] += count
    report = _report(whole, sel, params, stats, time.time() - t0)
    report["units"] = len(docs)  # documents, with a long one counted once per section
    return sel.rows, report


def _generate(
    docs: list[dict], params: QAParams, seed: int, stats: dict, cache_dir: str | Path | None, engine=None
) -> list[list[QAPair]]:
    """The pairs of each unit, from the generator qa.generator names."""
    if params.generator == "rules":
        return _rules(docs, params, seed, engine)
    if params.generator == "hf":
        return _hf(docs, params, seed, stats)
    if params.generator == "openai":
        return _openai(docs, params, seed, stats, Path(cache_dir) if cache_dir else qa_cache.default_dir())
    raise UserError(f"qa.generator: {params.generator!r} is not allowed; use one of 'rules', 'hf', 'openai'")


@dataclass
class _Selection:
    """The rows validation kept so far, and the counts the report gives."""

    rows: list[dict] = field(default_factory=list)
    kept: Counter = field(default_factory=Counter)  # pairs per type
    dropped: dict[str, Counter] = field(default_factory=lambda: defaultdict(Counter))  # type -> reason -> pairs
    per_doc: Counter = field(default_factory=Counter)  # pairs per doc_id, paraphrases not counted
    paraphrase_rows: int = 0
    heldout_facts: set[tuple] = field(default_factory=set)  # _fact_key of every held-out pair
    asked: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))  # questions per split_key


def _select(doc: dict, pairs: list[QAPair], params: QAParams, sel: _Selection) -> None:
    """Validate one unit's pairs in order; keep at most qa.per_doc, with their paraphrases on training units."""
    # One question once per subject: across a document's sections and across documents that share a
    # title (an entity's several biographies), which also share a held-out side (data.documents.split_key).
    seen = sel.asked[split_key(doc["text"], doc["doc_id"])]
    n = 0
    for c in pairs:
        if n >= params.per_doc:
            sel.dropped[c.type]["over_per_doc"] += 1
            continue
        reason = check(c, doc["text"], seen) or _heldout_overlap(c, doc["split"], sel.heldout_facts)
        if reason:
            sel.dropped[c.type][reason] += 1
            continue
        qa_id = f"{doc['doc_id']}-{sel.per_doc[doc['doc_id']] + n:02d}"
        n += 1
        sel.kept[c.type] += 1
        sel.rows.append(_row(doc, c, qa_id, None))
        if doc["split"] == "train":  # paraphrases are training signal: never for held-out documents
            _select_paraphrases(doc, c, qa_id, seen, params, sel)
    sel.per_doc[doc["doc_id"]] += n


def _heldout_overlap(c: QAPair, split: str, heldout_facts: set[tuple]) -> str:
    """Remember the facts a held-out unit asks; "heldout_overlap" for a training pair asking one of them."""
    if c.type == "summarization":
        return ""
    key = _fact_key(c.question, c.answer)
    if split == "heldout":
        heldout_facts.add(key)
        return ""
    return "heldout_overlap" if key in heldout_facts else ""


def _select_paraphrases(doc: dict, c: QAPair, qa_id: str, seen: set[str], params: QAParams, sel: _Selection) -> None:
    for m, q in enumerate(c.paraphrases[: params.paraphrases]):
        para = replace(c, question=q, template=c.template + "+para", paraphrases=())
        reason = check(para, doc["text"], seen)
        if reason:
            sel.dropped["paraphrase"][reason] += 1
            continue
        sel.paraphrase_rows += 1
        sel.rows.append(_row(doc, para, f"{qa_id}p{m}", qa_id))


def _fact_key(question: str, answer: str) -> tuple:
    """Answer plus the names the question mentions: two wordings of one fact share it."""
    names = frozenset(re.findall(r"(?<!^)\b[A-Z][\w'’\-]+", question.strip()))
    return norm_text(answer), names


def _row(doc: dict, c: QAPair, qa_id: str, paraphrase_of: str | None) -> dict:
    return {
        "qa_id": qa_id,
        "doc_id": doc["doc_id"],
        "split": doc["split"],
        "title": doc["title"],
        "type": c.type,
        "question": c.question.strip(),
        "answer": c.answer.strip(),
        "answer_kind": c.answer_kind,
        "template": c.template,
        "generator": c.generator,
        "prompt_hash": c.prompt_hash,
        "paraphrase_of": paraphrase_of,
    }


def _report(docs: list[dict], sel: _Selection, params: QAParams, stats: dict, seconds: float) -> dict:
    by_split_docs = Counter(d["split"] for d in docs)
    originals = Counter(d["split"] for d in docs for _ in range(sel.per_doc[d["doc_id"]]))
    total_dropped = Counter()
    for reasons in sel.dropped.values():
        total_dropped.update(reasons)
    return {
        "generator": params.generator,
        "docs": len(docs),
        "pairs": len(sel.rows),
        "paraphrase_rows": sel.paraphrase_rows,
        "pairs_per_doc": round(sum(sel.per_doc.values()) / max(1, len(docs)), 3),
        "pairs_per_doc_by_split": {s: round(originals[s] / by_split_docs[s], 3) for s in sorted(by_split_docs)},
        "docs_without_pairs": sum(1 for d in docs if sel.per_doc[d["doc_id"]] == 0),
        "kept_by_type": dict(sorted(sel.kept.items())),
        "dropped": dict(sorted(total_dropped.items())),
        "dropped_by_type": {t: dict(sorted(r.items())) for t, r in sorted(sel.dropped.items())},
        "by_split": dict(sorted(Counter(r["split"] for r in sel.rows).items())),
        "generation": {k: v for k, v in sorted(stats.items())},
        "seconds": round(seconds, 2),
    }


def write_qa(rows: list[dict], out_dir: str | Path) -> None:
    """data/qa/{train,heldout}.parquet, all-or-nothing."""
    with atomic_dir(out_dir) as tmp:
        for split in SPLITS:
            part = [r for r in rows if r["split"] == split]
            pq.write_table(pa.Table.from_pylist(part, schema=QA_SCHEMA), Path(tmp) / f"{split}.parquet")

"""Issue 14's done-when on two real, freely licensed corpora of different genres (data/samples:
Linux man pages and license texts from Debian packages) and on the shipped encyclopedia."""

import json
from collections import Counter
from pathlib import Path

import pyarrow as pa
import pytest

from cptpipe.data.documents import DOC_SCHEMA
from cptpipe.data.ingest import build_documents
from cptpipe.params import load_params
from cptpipe.qa.generate import build_qa
from cptpipe.qa.validate import norm_tokens

ROOT = Path(__file__).resolve().parents[2]
PARAMS = load_params(ROOT / "params.yaml")  # the defaults a user gets


def _run(raw: Path, profile: str = "curated"):
    ingest = PARAMS.ingest
    ingest.profile = profile
    try:
        rows, report = build_documents(raw, ingest, PARAMS.seed)
    finally:
        ingest.profile = "curated"
    qa, qa_report = build_qa(pa.Table.from_pylist(rows, schema=DOC_SCHEMA), PARAMS.qa, PARAMS.seed)
    return rows, report, qa, qa_report


@pytest.fixture(scope="module", params=["manpages", "licenses"])
def corpus(request):
    return request.param, _run(ROOT / "data" / "samples" / request.param)


def test_default_params_keep_documents_and_mine_grounded_qa_of_every_type(corpus):
    name, (rows, report, qa, _) = corpus
    assert report["docs_kept"] / report["records_seen"] >= 0.95, report["dropped"]
    assert "drop_alarm" not in report
    assert len(qa) / len(rows) >= 3
    assert set(Counter(q["type"] for q in qa)) == {"factual", "reasoning", "summarization"}
    text = {r["doc_id"]: " ".join(r["text"].split()) for r in rows}
    factual = [q for q in qa if q["type"] == "factual"]
    verbatim = [q for q in factual if " ".join(q["answer"].split()) in text[q["doc_id"]]]
    assert len(verbatim) >= 0.9 * len(factual)
    for q in qa:
        assert f" {' '.join(norm_tokens(q['answer']))} " not in f" {' '.join(norm_tokens(q['question']))} ", q


def test_long_documents_get_sections_with_their_own_split(corpus):
    name, (rows, _, qa, qa_report) = corpus
    sectioned = [r for r in rows if "sections" in json.loads(r["metadata"])]
    assert sectioned and qa_report["units"] > len(rows)
    # held-out questions come per section: one document can have both
    splits = {}
    for q in qa:
        splits.setdefault(q["doc_id"], set()).add(q["split"])
    assert any(s == {"train", "heldout"} for s in splits.values())


def test_profile_web_drops_exactly_the_flagged_documents_each_with_its_rule(corpus):
    name, (rows, report, _, _) = corpus
    flagged = {r["source"]: json.loads(r["metadata"]).get("quality_flags") for r in rows}
    flagged = {s: f for s, f in flagged.items() if f}
    assert sum(report["flagged"].values()) >= len(flagged) > 0  # man pages and licenses trip the Gopher rules
    _, web, _, _ = _run(ROOT / "data" / "samples" / name, profile="web")
    drops = {d["source"]: d["reason"] for d in web["drops"]}
    assert drops == {s: f[0] for s, f in flagged.items()}
    assert web["docs_kept"] == report["docs_kept"] - len(flagged)


def test_encyclopedia_does_not_get_worse():
    # measured with the same params on the biographies (issue 13): 480 kept, 2746 pairs (factual 2419,
    # reasoning 207, summarization 120: one per entity, its other biographies ask the same question).
    # Naming the entity in every sentence trips the Gopher n-gram rule on some biographies: flagged, kept.
    rows, report, qa, _ = _run(ROOT / "data" / "raw")
    assert report["docs_kept"] == 480 and set(report["flagged"]) <= {"repeated_ngrams"}
    by_type = Counter(q["type"] for q in qa)
    for qtype, before in {"factual": 2419, "reasoning": 207, "summarization": 120}.items():
        assert abs(by_type[qtype] - before) <= 0.05 * before, (qtype, by_type[qtype])

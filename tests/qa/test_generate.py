"""The qa stage end to end (rules), validation, JSON parsing and the split guarantee."""

import json

import pyarrow as pa
import pyarrow.parquet as pq
import yaml

from cptpipe.data.documents import DOC_SCHEMA, split_key, split_of
from cptpipe.data.encode import source_rows
from cptpipe.params import QAParams
from cptpipe.qa.generate import build_qa
from cptpipe.qa.llm import parse_pairs
from cptpipe.qa.pairs import QAPair, quotas
from cptpipe.qa.validate import check
from tests.helpers import stage_args
from tests.qa.conftest import ROOT, corpus_docs


def _stage_repo(tmp_path, qa: dict, seed: int = 0):
    """A temp repo with ingest-shaped shards (ingest's own split function) and params.yaml."""
    raw = yaml.safe_load((ROOT / "params.yaml").read_text())
    raw["seed"] = seed
    raw["qa"].update(qa)
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(raw))
    docs = corpus_docs(40)
    for d in docs:
        d.update(
            source=d["doc_id"],
            n_chars=len(d["text"]),
            metadata="{}",
            split=split_of(split_key(d["text"], d["doc_id"]), raw["ingest"]["heldout_docs"] + 0.2, seed),
        )
    (tmp_path / "data/shards").mkdir(parents=True)
    pq.write_table(pa.Table.from_pylist(docs, schema=DOC_SCHEMA), tmp_path / "data/shards/shard-00000.parquet")
    return {d["doc_id"]: d["split"] for d in docs}


def test_stage_keeps_heldout_pairs_out_of_training(tmp_path, monkeypatch):
    import stages.qa

    split = _stage_repo(tmp_path, {"paraphrases": 2})
    monkeypatch.chdir(tmp_path)
    summary = stages.qa.main(stages.qa.ARGS.parse_args(stage_args("qa")))
    assert "pairs" in summary
    train = pq.read_table("data/qa/train.parquet").to_pylist()
    heldout = pq.read_table("data/qa/heldout.parquet").to_pylist()
    assert train and heldout
    # Split by document, and exactly ingest's split of that document.
    assert not {r["doc_id"] for r in train} & {r["doc_id"] for r in heldout}
    assert all(r["split"] == split[r["doc_id"]] == "train" for r in train)
    assert all(r["split"] == split[r["doc_id"]] == "heldout" for r in heldout)
    # Paraphrases (training signal) only for training documents, each pointing at a kept pair.
    assert not any(r["paraphrase_of"] for r in heldout)
    ids = {r["qa_id"] for r in train}
    paras = [r for r in train if r["paraphrase_of"]]
    assert paras and all(p["paraphrase_of"] in ids for p in paras)
    # What tokenize hands to training keeps the split: held-out QA text is never a train row.
    qa_rows = source_rows("qa", tmp_path / "data/qa")
    held_q = {r["question"] for r in heldout}
    assert not any(r["question"] in held_q for r in qa_rows if r["split"] == "train")
    report = json.loads((tmp_path / "reports/qa.json").read_text())
    assert report["pairs"] == len(train) + len(heldout)
    assert set(report["kept_by_type"]) == {"factual", "reasoning", "summarization"}
    assert report["pairs_per_doc"] >= 3 and report["paraphrase_rows"] == len(paras)


def test_an_entitys_biographies_ask_each_question_once():
    # Four biographies of one person, each worded differently: without the per-title check the same
    # "When was X born?" would be trained (or scored) up to four times.
    docs = [d for d in corpus_docs(None) if d["title"] == corpus_docs(1)[0]["title"]]
    assert len(docs) >= 3
    rows, report = build_qa(pa.Table.from_pylist(docs), QAParams(per_doc=8), seed=0)
    questions = [" ".join(r["question"].lower().split()) for r in rows]
    assert len(questions) == len(set(questions))
    assert report["dropped"].get("duplicate_question", 0) > 0
    assert len({r["doc_id"] for r in rows}) >= 2  # later biographies still add new wordings


def test_report_counts_drops_by_reason_and_type():
    docs = pa.Table.from_pylist(corpus_docs(3))
    rows, report = build_qa(docs, QAParams(per_doc=8), seed=0)
    assert report["docs"] == 3 and report["pairs"] == len(rows)
    assert sum(report["kept_by_type"].values()) == len(rows)
    assert isinstance(report["dropped"], dict) and isinstance(report["dropped_by_type"], dict)
    assert {r["generator"] for r in rows} == {"rules"}


def test_validator_reasons():
    text = "Orrin Dask founded Zanvel Works in 1901 in the town of Tambleferry."
    c = lambda q, a, t="factual": QAPair(t, q, a, "entity", "x", "test", "h")  # noqa: E731
    seen: set[str] = set()
    assert check(c("Who founded Zanvel Works?", "Orrin Dask"), text, seen) == ""
    assert check(c("Who founded  zanvel works?", "Orrin Dask"), text, seen) == "duplicate_question"
    assert check(c("Where is Zanvel Works?", "Paris"), text, seen) == "unsupported"
    assert check(c("When did Orrin Dask found it, in 1901?", "1901"), text, seen) == "answer_in_question"
    assert check(c("", "x"), text, seen) == "empty"
    assert check(c("Q?", "word " * 20), text, seen) == "too_long"
    assert check(c("Summarize it.", "Bananas grow on tall green trees.", "summarization"), text, seen) == "unsupported"
    assert check(c("Which came first?", "the founding", "reasoning"), text, seen) == ""


def test_json_parsing_is_robust():
    pair = {"question": "Q?", "answer": "A"}
    assert parse_pairs('```json\n{"pairs": [{"question": "Q?", "answer": "A"}]}\n```\nDone!') == [pair]
    assert parse_pairs('Sure: [{"question": "Q?", "answer": "A"}] and more text {') == [pair]
    assert parse_pairs('{"question": "Q?", "answer": "A"}') == [pair]
    assert parse_pairs('noise {"x": 1} then {"pairs": [{"question": "Q?", "answer": "A"}]}') == [pair]
    assert parse_pairs('{"pairs": [{"question": "Q?", "answer": ') is None
    assert parse_pairs("") is None and parse_pairs("no json here") is None


def test_quotas_give_every_requested_type_a_share_and_factual_the_rest():
    assert quotas(8, ["factual", "reasoning", "summarization"]) == {"summarization": 1, "reasoning": 2, "factual": 5}
    assert quotas(1, ["factual", "reasoning", "summarization"]) == {"summarization": 1, "reasoning": 1, "factual": 1}
    assert quotas(8, ["factual"]) == {"factual": 8} and quotas(8, ["reasoning"]) == {"reasoning": 2}

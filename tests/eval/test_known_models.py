"""The instruction-following instrument on a known-good and a known-broken model.

Good: SmolLM2-135M-Instruct's own answers to data/instruct/follow.jsonl, generated through the eval
stage by `bench/instruments.py --save-samples` (the model is too slow for the test suite; the
answers are its real output). Broken: a random-weight Llama run through the eval stage here.
"""

import json
import shutil
from pathlib import Path

from cptpipe.eval.instruct_check import check
from cptpipe.eval.run import evaluate_checkpoint
from cptpipe.params import EvalParams, Params
from tests.eval.qa_rows import eval_inputs
from tests.helpers import ROOT, tiny_model, tiny_tokenizer

SMOLLM2 = Path(__file__).parent / "smollm2_follow.jsonl"


def follow_rows() -> dict[str, dict]:
    rows = (json.loads(line) for line in (ROOT / "data/instruct/follow.jsonl").read_text().splitlines())
    return {r["id"]: r for r in rows}


def test_a_real_instruct_model_reads_well_above_zero_and_per_constraint_as_it_answers():
    answers = [json.loads(line) for line in SMOLLM2.read_text().splitlines()]
    rows = follow_rows()
    assert {a["id"] for a in answers} == set(rows)  # answers to the shipped rows, all of them
    assert all(a["constraint"] == rows[a["id"]]["constraint"] for a in answers)
    scores = [check(a["response"].strip(), a["constraint"]) for a in answers]  # as scoring.instruct_results
    assert sum(scores) / len(scores) >= 0.15  # 23 / 120 = 0.19; SmolLM2-135M-Instruct's published IFEval is ~0.29
    # what it does and does not do: it writes at length about the asked topic, never in capitals
    by_kind: dict[str, list[bool]] = {}
    for a, ok in zip(answers, scores):
        by_kind.setdefault(a["id"].split("/")[1], []).append(ok)
    assert sum(by_kind["min_words"]) / len(by_kind["min_words"]) >= 0.8
    assert sum(by_kind["uppercase"]) == 0


def test_a_broken_model_reads_near_zero_through_the_eval_stage(tmp_path, monkeypatch):
    (tmp_path / "data/instruct").mkdir(parents=True)
    shutil.copy(ROOT / "data/instruct/follow.jsonl", tmp_path / "data/instruct/follow.jsonl")
    model_dir = tmp_path / "random"
    tiny_model(context=256).save_pretrained(model_dir)
    tiny_tokenizer().save_pretrained(model_dir)
    monkeypatch.chdir(tmp_path)
    params = Params(
        eval=EvalParams(
            domain_qa=False, replay_ppl=False, general_ppl=False, instruct_drills=False, limit=48, batch_size=16
        )
    )
    out = Path("reports/eval/random")
    out.mkdir(parents=True)
    metrics = evaluate_checkpoint(model_dir, params, eval_inputs(tmp_path), out)
    assert metrics["n"]["instruct_follow"] == 48
    assert metrics["instruct"]["follow"] <= 0.05

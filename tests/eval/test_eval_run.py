import json
import shutil

import pyarrow as pa
import pyarrow.parquet as pq

from cptpipe.eval.run import evaluate_checkpoint
from cptpipe.params import EvalParams, Params
from cptpipe.qa.build import QA_SCHEMA
from tests.helpers import ROOT, tiny_model, tiny_tokenizer


def make_root(tmp_path):
    qa = []
    for i in range(12):
        for split in ("train", "heldout"):
            qa.append({"qa_id": f"{split}{i}", "doc_id": f"d{split}{i}", "split": split, "title": f"T{i}",
                       "type": "factual", "question": f"In which year was Place {i} {split} founded?",
                       "answer": str(1800 + i), "answer_kind": "year", "template": "t", "generator": "rules",
                       "prompt_hash": "h"})
    (tmp_path / "data/qa").mkdir(parents=True)
    for split in ("train", "heldout"):
        rows = [r for r in qa if r["split"] == split]
        pq.write_table(pa.Table.from_pylist(rows, schema=QA_SCHEMA), tmp_path / f"data/qa/{split}.parquet")
    for name in ("replay", "instruct"):
        (tmp_path / "data" / name).mkdir()
        shutil.copy(ROOT / f"data/{name}/heldout.jsonl", tmp_path / f"data/{name}/heldout.jsonl")
    model_dir = tmp_path / "ckpt"
    tiny_model(context=256).save_pretrained(model_dir)
    tiny_tokenizer().save_pretrained(model_dir)
    return model_dir


def test_eval_writes_metrics_equal_to_lm_eval_results_and_skips_unreachable_tasks(tmp_path, monkeypatch):
    model_dir = make_root(tmp_path)
    monkeypatch.chdir(tmp_path)  # task data_files are relative to the repository root
    params = Params(eval=EvalParams(limit=6, max_new_tokens=4, batch_size=8, passkey_lengths=[64],
                                    passkey_samples=3, lm_eval_tasks=["hellaswag"]))
    out = tmp_path / "reports/eval/x"
    out.mkdir(parents=True)
    metrics = evaluate_checkpoint(model_dir, params, tmp_path, out)
    for group, key in (("domain_qa", "em"), ("domain_qa", "f1"), ("domain_qa_mc", "acc"),
                       ("domain_qa_seen", "em"), ("replay", "ppl"), ("instruct", "follow"), ("passkey", "acc")):
        assert isinstance(metrics[group][key], float), (group, key)
    assert metrics["n"]["domain_qa_gen"] == 6 and metrics["n"]["passkey"] == 3
    raw = json.loads((out / "results.json").read_text())["results"]
    assert metrics["replay"]["ppl"] == round(raw["replay_ppl"]["word_perplexity,none"], 6)
    assert metrics["domain_qa_mc"]["acc"] == round(raw["domain_qa_mc"]["acc,none"], 6)
    assert [s["task"] for s in metrics["skipped"]] == ["hellaswag"]
    yaml_text = (out / "tasks/domain_qa_gen.yaml").read_text()
    assert "!function cptpipe_scoring.qa_gen_results" in yaml_text and str(tmp_path) not in yaml_text

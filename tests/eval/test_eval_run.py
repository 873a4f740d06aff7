import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from cptpipe.errors import UserError
from cptpipe.eval.run import em_breakdown, evaluate_checkpoint, lm_eval_model, wrong_from_seen
from cptpipe.eval.tasks import build_tasks, cloze_prompt
from cptpipe.params import EvalParams, Params
from tests.eval.qa_rows import eval_inputs, write_qa, write_shards
from tests.helpers import ROOT, tiny_model, tiny_tokenizer


def make_root(tmp_path):
    write_qa(tmp_path)
    write_shards(tmp_path)
    for name, files in (("replay", ["heldout"]), ("instruct", ["heldout", "follow"]), ("general", ["heldout"])):
        (tmp_path / "data" / name).mkdir()
        for f in files:
            shutil.copy(ROOT / f"data/{name}/{f}.jsonl", tmp_path / f"data/{name}/{f}.jsonl")
    model_dir = tmp_path / "ckpt"
    tiny_model(context=256).save_pretrained(model_dir)
    tiny_tokenizer().save_pretrained(model_dir)
    return model_dir


def test_eval_writes_metrics_equal_to_lm_eval_results_and_skips_unreachable_tasks(tmp_path, monkeypatch):
    model_dir = make_root(tmp_path)
    monkeypatch.chdir(tmp_path)  # task data_files are relative to the repository root
    params = Params(
        eval=EvalParams(
            limit=6,
            max_new_tokens=4,
            batch_size=8,
            passkey_lengths=[64],
            passkey_samples=3,
            lm_eval_tasks=["hellaswag"],
        )
    )
    out = Path("reports/eval/x")  # relative, as the stage gives it: the YAML twins' data_files stay portable
    out.mkdir(parents=True)
    metrics = evaluate_checkpoint(model_dir, params, eval_inputs(tmp_path), out)
    for group, key in (
        ("domain_qa", "em"),
        ("domain_qa", "f1"),
        ("domain_qa_mc", "acc"),
        ("domain_qa_seen", "em"),
        ("replay", "ppl"),
        ("general", "ppl"),
        ("instruct", "follow"),
        ("instruct", "drills"),
        ("domain_qa", "span_em"),
        ("passkey", "acc"),
        ("domain_qa_reasoning", "em"),
        ("domain_qa_reasoning", "f1"),
        ("domain_qa_summary", "f1"),
    ):
        assert isinstance(metrics[group][key], float), (group, key)
    assert metrics["n"]["domain_qa_gen"] == 6 and metrics["n"]["passkey"] == 3
    # documents' own sentences for the held-out facts that have one (dheldout4's answer opens its sentence)
    sampled = {
        json.loads(line)["doc"]["doc_id"] for line in (out / "samples_domain_qa_gen.jsonl").read_text().splitlines()
    }
    assert isinstance(metrics["domain_recall"]["em"], float)
    assert metrics["n"]["domain_recall"] == len(sampled & {"dheldout0", "dheldout1"}) >= 1
    assert 0.0 <= metrics["domain_qa"]["wrong_from_seen"] <= 1.0
    # factual questions only in gen/mc/seen; reasoning (2) and summary (1) held-out items in their own tasks
    assert metrics["n"]["domain_qa_reasoning"] == 2 and metrics["n"]["domain_qa_summary"] == 1
    assert metrics["n"]["domain_qa_mc"] == 6  # one sample per question, 4 choices each
    samples = {
        t: [json.loads(line) for line in (out / f"samples_{t}.jsonl").read_text().splitlines()]
        for t in ("domain_qa_gen", "domain_qa_mc", "domain_qa_seen", "domain_qa_reasoning", "domain_qa_summary")
    }
    for task in ("domain_qa_gen", "domain_qa_mc", "domain_qa_seen"):
        assert {r["doc"]["type"] for r in samples[task]} == {"factual"}, task
    assert {r["doc"]["type"] for r in samples["domain_qa_reasoning"]} == {"reasoning"}
    assert [r["doc"]["type"] for r in samples["domain_qa_summary"]] == ["summarization"]
    # held-out EM per answer kind and relation: the per-sample EM of domain_qa_gen, grouped
    for key, field in (("domain_qa_by_kind", "answer_kind"), ("domain_qa_by_relation", "relation")):
        groups = {}
        for r in samples["domain_qa_gen"]:
            groups.setdefault(r["doc"][field], []).append(r["em"])
        assert metrics[key] == {k: {"em": round(sum(v) / len(v), 6), "n": len(v)} for k, v in groups.items()}
    assert sum(v["n"] for v in metrics["domain_qa_by_kind"].values()) == 6
    assert set(metrics["domain_qa_by_relation"]) <= {
        "born_year",
        "when_passive",
        "born_place",
        "n_people",
        "measure",
        "joined",
        "feeds",
    }
    configs = json.loads((out / "results.json").read_text())["configs"]
    assert configs["domain_qa_summary"]["generation_kwargs"]["max_gen_toks"] == 3 * 4
    assert configs["domain_qa_gen"]["generation_kwargs"]["max_gen_toks"] == 4
    raw = json.loads((out / "results.json").read_text())["results"]
    assert metrics["replay"]["ppl"] == round(raw["replay_ppl"]["word_perplexity,none"], 6)
    assert metrics["general"]["ppl"] == round(raw["general_ppl"]["word_perplexity,none"], 6)
    assert metrics["n"]["instruct_follow"] == metrics["n"]["instruct_drills"] == 6
    assert metrics["domain_qa_mc"]["acc"] == round(raw["domain_qa_mc"]["acc,none"], 6)
    assert [s["task"] for s in metrics["skipped"]] == ["hellaswag"]
    yaml_text = (out / "tasks/domain_qa_gen.yaml").read_text()
    assert "!function cptpipe_scoring.qa_gen_results" in yaml_text and str(tmp_path) not in yaml_text


def test_generated_tasks_run_by_hand_with_the_lm_eval_cli_after_the_atomic_rename(tmp_path, monkeypatch):
    # The stage writes into a temp dir renamed on success; the YAML twins must point at the final
    # place, or `lm_eval --include_path reports/eval/cpt/tasks` fails with FileNotFoundError.
    model_dir = make_root(tmp_path)
    monkeypatch.chdir(tmp_path)
    params = Params(
        eval=EvalParams(
            limit=4,
            max_new_tokens=3,
            batch_size=8,
            replay_ppl=False,
            general_ppl=False,
            instruct_follow=False,
            instruct_drills=False,
        )
    )
    published, tmp = Path("reports/eval/cpt"), Path("reports/eval/.cpt.tmp-test")
    tmp.mkdir(parents=True)
    evaluate_checkpoint(model_dir, params, eval_inputs(Path(".")), tmp, published_dir=published)
    tmp.rename(published)
    assert "reports/eval/cpt/tasks/domain_qa_mc.jsonl" in (published / "tasks/domain_qa_mc.yaml").read_text()
    # results.json names the published task files too: a rerun (another temp name) writes the same bytes
    results_json = (published / "results.json").read_text()
    assert "reports/eval/cpt/tasks/domain_qa_mc.jsonl" in results_json and str(tmp) not in results_json
    lm_eval = Path(sys.executable).with_name("lm_eval")
    proc = subprocess.run(
        [
            str(lm_eval),
            "run",
            "--model",
            "hf",
            "--model_args",
            f"pretrained={model_dir}",
            "--include_path",
            str(published / "tasks"),
            "--tasks",
            "domain_qa_mc",
            "domain_qa_gen",
            "--output_path",
            "by_hand",
            "--device",
            "cpu",
            "--batch_size",
            "4",
        ],
        capture_output=True,
        text=True,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = json.loads(next(Path("by_hand").rglob("results_*.json")).read_text())["results"]
    assert 0.0 <= results["domain_qa_mc"]["acc,none"] <= 1.0 and "em,none" in results["domain_qa_gen"]


def test_model_args_reach_lm_eval_and_a_missing_backend_names_its_extra(tmp_path, monkeypatch):
    model_dir = make_root(tmp_path)
    monkeypatch.chdir(tmp_path)
    # model_args: HFLM loads the checkpoint itself with them; batch size "auto" is lm-eval's search
    params = Params(
        eval=EvalParams(
            limit=3,
            max_new_tokens=3,
            batch_size="auto",
            instruct_follow=False,
            instruct_drills=False,
            model_args={"max_length": 96, "dtype": "float32"},
        )
    )
    out = tmp_path / "reports/eval/x"
    out.mkdir(parents=True)
    metrics = evaluate_checkpoint(model_dir, params, eval_inputs(tmp_path), out)
    assert isinstance(metrics["domain_qa"]["em"], float) and metrics["replay"]["ppl"] > 1
    assert lm_eval_model(model_dir, tiny_tokenizer(), params.eval).max_length == 96
    if importlib.util.find_spec("vllm") is None:
        with pytest.raises(UserError, match=r'pip install -e "\.\[vllm\]"'):
            lm_eval_model(model_dir, tiny_tokenizer(), EvalParams(backend="vllm"))


def test_em_breakdown_groups_logged_samples():
    rows = [
        {"doc": {"answer_kind": "year", "relation": "born_year"}, "em": 1.0},
        {"doc": {"answer_kind": "year", "relation": "when_passive"}, "em": 0.0},
        {"doc": {"answer_kind": "place", "relation": "born_place"}, "em": 1.0},
        {"doc": {"answer_kind": "place"}, "f1": 0.5},
    ]  # no em: not a generation sample
    assert em_breakdown(rows, "answer_kind") == {"place": {"em": 1.0, "n": 1}, "year": {"em": 0.5, "n": 2}}
    assert em_breakdown(rows, "relation")["when_passive"] == {"em": 0.0, "n": 1}


def test_only_factual_rows_are_scored_as_domain_qa_and_relation_comes_from_the_template(tmp_path):
    write_qa(tmp_path)
    write_shards(tmp_path)
    tasks = build_tasks(
        eval_inputs(tmp_path),
        tmp_path / "tasks",
        None,
        EvalParams(replay_ppl=False, general_ppl=False, instruct_follow=False, instruct_drills=False, max_new_tokens=5),
        seed=0,
    )
    rows = {
        name: [json.loads(line) for line in (tmp_path / f"tasks/{name}.jsonl").read_text().splitlines()]
        for name in tasks
    }
    assert {r["type"] for n in ("domain_qa_gen", "domain_qa_mc", "domain_qa_seen") for r in rows[n]} == {"factual"}
    assert len(rows["domain_qa_gen"]) == 10 and len(rows["domain_qa_mc"]) == 10
    assert [r["relation"] for r in rows["domain_qa_gen"][:3]] == ["born_year", "born_year", "when_passive"]
    assert [r["type"] for r in rows["domain_qa_reasoning"]] == ["reasoning", "reasoning"]
    assert [r["answer"][:18] for r in rows["domain_qa_summary"]] == ["Munvel Instruments"]
    assert tasks["domain_qa_summary"]["generation_kwargs"]["max_gen_toks"] == 15
    assert [m["metric"] for m in tasks["domain_qa_summary"]["metric_list"]] == ["f1"]
    # MC distractors come from factual answers of the same kind only
    for r in rows["domain_qa_mc"]:
        assert r["continuations"] == [f" {c}" for c in r["choices"]] and r["choices"][r["gold"]] == r["answer"]
    assert "the founding of Tolvengate" not in {c for r in rows["domain_qa_mc"] for c in r["choices"]}


def test_cloze_prompt_cuts_the_documents_own_sentence_before_the_answer():
    text = (
        "# Athobar Briskholt\n\nAthobar Briskholt was an engineer. He grew up in Ossengate, a town. Ossengate is old."
    )
    assert cloze_prompt(text, "Ossengate") == "# Athobar Briskholt\n\nHe grew up in"
    assert cloze_prompt(text, "engineer") == "# Athobar Briskholt\n\nAthobar Briskholt was an"
    assert cloze_prompt("# T\n\nFounded in 1851, it grew.", "1851") == "# T\n\nFounded in"
    assert cloze_prompt(text, "Athobar Briskholt") is None  # only ever at a sentence start
    assert cloze_prompt(text, "Kelverin") is None
    assert (
        cloze_prompt("Plain text without a heading, born in 1900.", "1900") == "Plain text without a heading, born in"
    )


def test_wrong_from_seen_counts_wrong_answers_that_are_trained_answers():
    rows = [
        {"em": 0.0, "filtered_resps": ["Tolvengate"]},
        {"em": 0.0, "filtered_resps": ["Nowhere"]},
        {"em": 1.0, "filtered_resps": ["1834"]},
        {"em": 0.0, "filtered_resps": ["tolvengate."]},
    ]
    assert wrong_from_seen(rows, {"tolvengate", "1834"}) == round(2 / 3, 6)
    assert wrong_from_seen([{"em": 1.0, "filtered_resps": ["x"]}], {"x"}) is None

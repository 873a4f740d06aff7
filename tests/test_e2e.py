"""End to end: the whole DVC pipeline in a temp git repo, on a tiny config (a few minutes)."""

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow

TINY = {
    "model": {
        "scratch": {
            "vocab_size": 600,
            "hidden_size": 32,
            "layers": 2,
            "heads": 2,
            "context": 128,
            "pretrain_tokens": 20000,
        }
    },
    "tokenize": {"seq_len": 128},
    "mix": {"tokens": 20000, "domain_epochs": None, "qa_epochs": 1.0},
    "train": {"batch_size": 8, "log_every": 2},
    "eval": {"limit": 16, "max_new_tokens": 8, "batch_size": 16},
}
REQUIRED = [
    "start.domain_qa.em",
    "cpt.domain_qa.em",
    "start.domain_qa.f1",
    "cpt.domain_qa.f1",
    "start.replay.ppl",
    "cpt.replay.ppl",
    "forgetting.ppl_ratio",
    "absorption.em_gain",
    "start.domain_qa_mc.acc",
    "cpt.domain_qa_mc.acc",
    "absorption.mc_gain",
]


ALL_STAGES = {
    "ingest",
    "model",
    "qa",
    "tokenize@domain",
    "tokenize@qa",
    "tokenize@replay",
    "tokenize@instruct",
    "mix",
    "train",
    "eval@start",
    "eval@cpt",
    "report",
}


def deep_update(d: dict, u: dict) -> dict:
    for k, v in u.items():
        d[k] = deep_update(d.get(k, {}), v) if isinstance(v, dict) else v
    return d


def make_repo(dest: Path, overrides: dict) -> Path:
    """Copy the project as git sees it (tracked + untracked, not ignored) and commit it."""
    files = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split("\n")
    for rel in filter(None, files):
        src = ROOT / rel
        if src.is_file() and not rel.startswith(("reports/", "dvc.lock")):
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / rel)
    params = deep_update(yaml.safe_load((dest / "params.yaml").read_text()), overrides)
    (dest / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    for cmd in (["git", "init", "-q"], ["git", "add", "-A"], ["git", "commit", "-qm", "init"]):
        subprocess.run(cmd, cwd=dest, check=True, env=env())
    return dest


def env() -> dict:
    bindir = str(Path(sys.executable).parent)
    return {
        **os.environ,
        "PATH": bindir + os.pathsep + os.environ.get("PATH", ""),
        "HF_HUB_OFFLINE": "1",
        "HF_DATASETS_OFFLINE": "1",
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@t",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@t",
        "TOKENIZERS_PARALLELISM": "false",
    }


def dvc(repo: Path, *args: str) -> str:
    proc = subprocess.run(
        [str(Path(sys.executable).parent / "dvc"), *args], cwd=repo, env=env(), capture_output=True, text=True
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, f"dvc {' '.join(args)} failed:\n{out[-4000:]}"
    return out


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=repo, env=env(), capture_output=True, text=True, check=True).stdout


def ran(output: str) -> set[str]:
    return set(re.findall(r"Running stage '([^']+)'", output))


def lookup(metrics: dict, dotted: str):
    for part in dotted.split("."):
        metrics = metrics[part]
    return metrics


@pytest.fixture(scope="module")
def repo(tmp_path_factory):
    repo = make_repo(tmp_path_factory.mktemp("e2e"), TINY)
    out = dvc(repo, "repro")
    assert ran(out) == ALL_STAGES
    return repo


def test_full_dag_writes_metrics_and_loadable_model(repo):
    metrics = json.loads((repo / "reports/metrics.json").read_text())
    for key in REQUIRED:
        assert isinstance(lookup(metrics, key), float), key
    assert (repo / "reports/report.md").read_text().startswith("# cptpipe report")
    for png in ("train_loss.png", "qa_by_type.png", "forgetting.png"):
        assert (repo / "reports/plots" / png).stat().st_size > 5000
    from transformers import AutoModelForCausalLM, AutoTokenizer

    AutoModelForCausalLM.from_pretrained(repo / "models/cpt")
    tok = AutoTokenizer.from_pretrained(repo / "models/cpt")
    text = "The harbour was rebuilt in 1911, and the new quay opened to ships the following spring."
    assert tok.decode(tok(text, add_special_tokens=False)["input_ids"]) == text
    # the generated tasks run by hand from the repo root, as the README shows
    proc = subprocess.run(
        [
            str(Path(sys.executable).with_name("lm_eval")),
            "run",
            "--model",
            "hf",
            "--model_args",
            "pretrained=models/cpt",
            "--include_path",
            "reports/eval/cpt/tasks",
            "--tasks",
            "domain_qa_gen",
            "domain_qa_mc",
            "--limit",
            "8",
            "--output_path",
            "by_hand",
            "--device",
            "cpu",
            "--batch_size",
            "8",
        ],
        cwd=repo,
        env=env(),
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    by_hand = json.loads(next((repo / "by_hand").rglob("results_*.json")).read_text())["results"]
    assert 0.0 <= by_hand["domain_qa_mc"]["acc,none"] <= 1.0 and "em,none" in by_hand["domain_qa_gen"]
    shutil.rmtree(repo / "by_hand")


def test_report_numbers_equal_lm_eval_raw_results(repo):
    raw = json.loads((repo / "reports/eval/cpt/results.json").read_text())["results"]
    metrics = json.loads((repo / "reports/metrics.json").read_text())
    assert metrics["cpt"]["domain_qa"]["em"] == pytest.approx(raw["domain_qa_gen"]["em,none"], abs=1e-6)
    assert metrics["cpt"]["replay"]["ppl"] == pytest.approx(raw["replay_ppl"]["word_perplexity,none"], rel=1e-6)


def experiment_and_back(repo: Path, *sets: str, inspect=None) -> set[str]:
    """`dvc exp run -S ...` (then `inspect(repo)` on its outputs, if given), then `git checkout params.yaml
    && dvc repro` runs no stage (asserted) and the workspace is restored; returns the stages the
    experiment ran."""
    out = dvc(repo, "exp", "run", *(a for kv in sets for a in ("-S", kv)))
    if inspect is not None:
        inspect(repo)
    subprocess.run(["git", "checkout", "-q", "--", "params.yaml"], cwd=repo, check=True, env=env())
    back = dvc(repo, "repro")
    assert ran(back) == set(), back
    subprocess.run(["git", "checkout", "-q", "--", "."], cwd=repo, check=True, env=env())
    dvc(repo, "checkout", "-f")
    return ran(out)


def test_nothing_reruns_and_experiments_rerun_only_what_changed(repo):
    again = dvc(repo, "repro")
    assert ran(again) == set()
    dvc(repo, "commit", "-f")  # the first repro's lock into git so experiments branch from it
    subprocess.run(["git", "add", "-A"], cwd=repo, check=True, env=env())
    subprocess.run(["git", "commit", "-qm", "run"], cwd=repo, check=True, env=env())
    # outputs are a function of the inputs: stages that measure their own time (ingest, qa, train),
    # write through a temp dir (eval) or draw PNGs (report) rerun to the same bytes; their seconds go
    # to the untracked logs/timings/
    lock = (repo / "dvc.lock").read_text()
    forced = dvc(repo, "repro", "-f", "-s", "ingest", "qa", "train", "eval@start", "report")
    assert ran(forced) == {"ingest", "qa", "train", "eval@start", "report"}
    assert (repo / "dvc.lock").read_text() == lock
    assert git(repo, "status", "--porcelain") == ""
    assert {"ingest.json", "qa.json", "train.json"} <= {p.name for p in (repo / "logs/timings").iterdir()}
    # the way back is a restore from the run-cache: every stage ran before with these deps and params
    assert experiment_and_back(repo, "train.lr=0.0002") == {"train", "eval@cpt", "report"}
    assert experiment_and_back(repo, "mix.replay=0.1") == {"mix", "train", "eval@cpt", "report"}
    assert experiment_and_back(repo, "train.recipe=cpt") == {"mix", "train", "eval@cpt", "report"}
    # a key the base build ignores rebuilds models/start with equal bytes: nothing downstream reruns,
    # and the way back restores the committed start model instead of pretraining it again
    unused = dvc(repo, "exp", "run", "-S", "model.scratch.instruct_lr=0.002")
    assert ran(unused) == {"model"}
    subprocess.run(["git", "checkout", "-q", "--", "params.yaml"], cwd=repo, check=True, env=env())
    back = dvc(repo, "repro")
    assert ran(back) == set(), back
    table = json.loads(dvc(repo, "exp", "show", "--json"))
    exps = [e for rev in table for e in (rev.get("experiments") or [])]
    assert len(exps) >= 2
    md = dvc(repo, "exp", "show", "--md")
    assert "train.lr" in md and "cpt.domain_qa.em" in md
    from cptpipe.report.compare import compare_markdown

    table = compare_markdown([], cwd=repo)
    lines = table.splitlines()
    assert len(lines) >= 2 + 3 and "absorption.mc_gain" in lines[0]
    assert any("| 0.0002 |" in line for line in lines)  # the lr experiment's row
    diff = dvc(repo, "metrics", "diff", "HEAD", "--all", "--md")
    assert "cpt.domain_qa.em" in diff and "absorption.mc_gain" in diff
    html = dvc(repo, "plots", "show", "-o", str(repo / "plots_html"))
    assert (repo / "plots_html" / "index.html").exists(), html
    # an edit of the training loop makes `train` stale, never `model` (the start model is not retrained)
    loop = repo / "src/cptpipe/train/loop.py"
    loop.write_text(loop.read_text() + "\n# an edit of the training loop\n")
    status = subprocess.run(
        [str(Path(sys.executable).parent / "dvc"), "status", "--json"],
        cwd=repo,
        env=env(),
        capture_output=True,
        text=True,
    )
    stale = set(json.loads(status.stdout))
    subprocess.run(["git", "checkout", "-q", "--", "src/cptpipe/train/loop.py"], cwd=repo, check=True, env=env())
    assert "train" in stale and "model" not in stale, stale


CURRICULUM = {  # a user's own: QA, documents + QA + 5% instructions, a short low-LR instruction pass
    "phases": {
        "qa": {"qa": 1},
        "docs_qa": {"domain": 0.8, "qa": 0.2, "instruct": 0.05},
        "closing_it": {"instruct": 0.9, "replay": 0.1, "passes": {"instruct": 1}},
    },
    "schedule": {"qa": {"lr_scale": 0.3}, "closing_it": {"lr": 2e-4, "warmup": 0.0, "decay": "constant"}},
}


def steered(repo: Path) -> None:
    """An adaptive run's outputs: the controller's record, its curves, the report's section and plot."""
    summary = json.loads((repo / "reports/train/summary.json").read_text())
    docs = [ph for ph in summary["phases"] if "adaptive" in ph]
    assert len(docs) == 1 and len(docs[0]["adaptive"]["updates"]) >= 3
    a = docs[0]["adaptive"]
    assert a["forgetting_budget"] == 1.5 and all(0 <= u["share"] <= 0.5 for u in a["updates"])
    assert sum(v["tokens"] for v in a["realised"].values()) > 0
    curves = repo / "reports/train/plots/metrics"
    assert (curves / "mix/replay_share.tsv").exists() and (curves / "eval/ppl_ratio.tsv").exists()
    report = (repo / "reports/report.md").read_text()
    assert f"## Adaptive mixing: phase {docs[0]['name']}" in report
    assert (repo / "reports/plots/forgetting_curve.png").stat().st_size > 5000


def test_an_adaptive_experiment_reruns_from_mix_and_reports_its_steering(repo):
    sets = ("mix.schedule=adaptive", "mix.forgetting_budget=1.5", "train.eval_every=4")
    assert experiment_and_back(repo, *sets, inspect=steered) == {"mix", "train", "eval@cpt", "report"}


def test_recipes_rerun_only_what_they_change_and_a_curriculum_runs_from_params_alone(repo):
    subprocess.run(["git", "checkout", "-q", "--", "."], cwd=repo, check=True, env=env())
    dvc(repo, "checkout", "-f")
    selected = yaml.safe_load((repo / "params.yaml").read_text())["train"]["recipe"]
    assert selected != "mixed"  # an edit of a recipe that is not selected reruns nothing
    assert ran(dvc(repo, "exp", "run", "-S", "recipes.mixed.phases.docs_qa.qa=0.3")) == set()
    first = next(iter(yaml.safe_load((repo / "params.yaml").read_text())["recipes"][selected]["phases"]))
    lr = dvc(repo, "exp", "run", "-S", f"recipes.{selected}.schedule.{first}.lr_scale=0.5")
    assert ran(lr) == {"train", "eval@cpt", "report"}  # one phase's LR: never mix
    summary = json.loads((repo / "reports/train/summary.json").read_text())
    base = 1e-3  # train.lr: null -> the scratch start's preset
    assert summary["phases"][0]["lr"] == pytest.approx(0.5 * base)
    assert summary["phases"][0]["lr_source"] == "preset:scratch x 0.5"
    subprocess.run(["git", "checkout", "-q", "--", "params.yaml"], cwd=repo, check=True, env=env())
    params = yaml.safe_load((repo / "params.yaml").read_text())
    params["recipes"]["mine"] = CURRICULUM
    params["train"]["recipe"] = "mine"
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    out = dvc(repo, "repro")
    assert ran(out) == {"mix", "train", "eval@cpt", "report"}, out
    summary = json.loads((repo / "reports/train/summary.json").read_text())
    phases = {p["name"]: p for p in summary["phases"]}
    assert list(phases) == ["qa", "docs_qa", "closing_it"]
    assert phases["qa"]["lr"] == pytest.approx(0.3 * base) and phases["docs_qa"]["lr"] == pytest.approx(base)
    assert phases["closing_it"]["lr_source"] == "recipe"
    assert phases["closing_it"]["lr"] == 2e-4 and phases["closing_it"]["decay"] == "constant"
    mix = {p["name"]: p for p in json.loads((repo / "reports/mix.json").read_text())["phases"]}
    assert mix["qa"]["sources"]["replay"]["used"] > 0  # replay in the QA phase by default
    assert abs(mix["docs_qa"]["sources"]["instruct"]["share"] - 0.05) < 0.01
    assert set(mix["closing_it"]["sources"]) == {"instruct", "replay"}
    report = (repo / "reports/report.md").read_text()
    assert "| closing_it | 1 passes over instruct |" in report and "–" not in report.split("## What ran")[1]
    subprocess.run(["git", "checkout", "-q", "--", "."], cwd=repo, check=True, env=env())
    dvc(repo, "checkout", "-f")


def test_quick_study_queues_experiments_and_writes_the_table(repo):
    subprocess.run(["git", "checkout", "-q", "--", "."], cwd=repo, check=True, env=env())
    dvc(repo, "checkout", "-f")
    cli = [str(Path(sys.executable).parent / "cptpipe"), "study", "--quick", "--out", "reports/study.md"]
    proc = subprocess.run(cli, cwd=repo, env=env(), capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    assert "3/3 runs with metrics, 0 failed" in proc.stdout
    md = (repo / "reports/study.md").read_text()
    assert re.search(r"\| base-pit \| 2 \| [0-9.]+ ± [0-9.]+ \|", md), md
    assert re.search(r"\| base-cpt \| 1 \| [0-9.]+ \|", md), md
    assert "48.1" in md and (repo / "reports/study.png").stat().st_size > 5000
    table = json.loads(dvc(repo, "exp", "show", "--json"))
    exps = {e.get("name"): e for rev in table for g in (rev.get("experiments") or []) for e in g.get("revs") or []}
    assert {"quick-base-cpt-s0", "quick-base-pit-s0", "quick-base-pit-s1"} <= set(exps)
    params = exps["quick-base-pit-s1"]["data"]["params"]["params.yaml"]["data"]
    assert params["mix"]["seed"] == 1 and params["train"]["recipe"] == "pit"
    # a rerun reuses every finished arm instead of training again
    again = subprocess.run(cli, cwd=repo, env=env(), capture_output=True, text=True)
    assert again.returncode == 0 and "3/3 runs with metrics" in again.stdout
    assert "Running stage" not in again.stdout + again.stderr


def test_dag_from_a_local_pretrained_directory(repo, tmp_path):
    local = tmp_path / "my-model"
    shutil.copytree(repo / "models/start", local)
    (local / "START.json").unlink()
    repo2 = make_repo(tmp_path / "repo2", {**TINY, "model": {"name_or_path": str(local)}})
    out = dvc(repo2, "repro")
    assert {"model", "train", "eval@start", "eval@cpt", "report"} <= ran(out)
    pin = json.loads((repo2 / "models/start/MODEL.json").read_text())
    assert pin["source"] == "local" and len(pin["sha256"]) == 64
    assert not (repo2 / "models/start/model.safetensors").exists()
    metrics = json.loads((repo2 / "reports/metrics.json").read_text())
    assert isinstance(metrics["cpt"]["domain_qa"]["em"], float)


def test_sweep_front_and_recommendation_match_dvc_exp_show(repo):
    subprocess.run(["git", "checkout", "-q", "--", "."], cwd=repo, check=True, env=env())
    dvc(repo, "checkout", "-f")
    (repo / "sweep.yaml").write_text(
        yaml.safe_dump(
            {
                "name": "tsweep",
                "grid": {"mix.replay": [0.0, 0.05, 0.2]},
                "common": {"train.save_every": 0},
                "seeds": [0],
                "axis": "mix.replay",
                "absorption": "cpt.domain_qa_mc.acc",
                "forgetting": "forgetting.ppl_ratio",
            }
        )
    )
    cli = [str(Path(sys.executable).parent / "cptpipe"), "sweep", "--grid", "sweep.yaml", "--out", "reports/sweep.md"]
    proc = subprocess.run(cli, cwd=repo, env=env(), capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    assert "3/3 points measured, " in proc.stdout
    table = json.loads(dvc(repo, "exp", "show", "--json"))
    exps = {
        e.get("name"): e["data"]
        for rev in table
        for g in (rev.get("experiments") or [])
        for e in g.get("revs") or []
        if (e.get("name") or "").startswith("tsweep-")
    }
    points = {}
    for name, data in exps.items():
        m = data["metrics"]["reports/metrics.json"]["data"]
        p = data["params"]["params.yaml"]["data"]
        assert p["mix"]["replay"] in (0.0, 0.05, 0.2)  # the documents take what replay leaves
        points[name.removeprefix("tsweep-").removesuffix("-s0")] = (
            m["forgetting"]["ppl_ratio"],
            m["cpt"]["domain_qa_mc"]["acc"],
        )
    assert set(points) == {"replay0", "replay0.05", "replay0.2"}
    md = (repo / "reports/sweep.md").read_text()
    front = set(re.findall(r"^- `([^`]+)`: forgetting", md, re.M))
    for name, (x, y) in points.items():
        dominated = any(x2 <= x and y2 >= y and (x2, y2) != (x, y) for x2, y2 in points.values())
        assert (name in front) == (not dominated), (name, points, md)
    # a budget at the least forgetting leaves only that point; the rerun reuses every experiment
    budget = min(x for x, _ in points.values())
    again = subprocess.run(
        [*cli, "--max-forgetting", repr(budget)], cwd=repo, env=env(), capture_output=True, text=True
    )
    assert again.returncode == 0 and "Running stage" not in again.stdout + again.stderr
    best = min(points, key=lambda n: (points[n][0], -points[n][1]))
    assert f"recommended {best}" in again.stdout
    assert f"dvc exp apply tsweep-{best}-s0" in (repo / "reports/sweep.md").read_text()
    assert (repo / "reports/sweep.png").stat().st_size > 5000


def test_a_teammate_pulls_the_artifacts_and_reproduces_nothing(repo, tmp_path):
    """A DVC remote (a local directory here; S3/GCS/Azure through DVC's plugins): push after a run,
    and a fresh clone pulls outputs and run-cache, reproduces nothing and reads the metrics."""
    subprocess.run(["git", "checkout", "-q", "--", "."], cwd=repo, check=True, env=env())
    dvc(repo, "checkout", "-f")
    dvc(repo, "repro")
    subprocess.run(["git", "add", "-A"], cwd=repo, check=True, env=env())
    subprocess.run(["git", "commit", "-qm", "lock", "--allow-empty"], cwd=repo, check=True, env=env())
    remote = tmp_path / "remote"
    dvc(repo, "remote", "add", "--local", "team", str(remote))
    dvc(repo, "push", "-r", "team", "--run-cache")
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(repo), str(clone)], check=True, env=env())
    dvc(clone, "remote", "add", "--local", "team", str(remote))
    dvc(clone, "pull", "-r", "team", "--run-cache")
    again = dvc(clone, "repro")
    assert ran(again) == set(), again
    assert (clone / "models/cpt/config.json").exists()
    shown = dvc(clone, "metrics", "show", "--md")
    assert "cpt.domain_qa.em" in shown

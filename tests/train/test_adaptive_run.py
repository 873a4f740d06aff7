"""An adaptive documents phase trained end to end on the tiny workspace: the controller steers at every
eval, the curves and the summary show it, and kill -9 then resume draws what an uninterrupted run drew."""

import json
import shutil
import subprocess

import torch
from safetensors.torch import load_file

from cptpipe.train.run import run_train
from tests.train.workspace import STAGE, kill_after_checkpoint, make_workspace, params, stage_env

ADAPTIVE = {"schedule": "adaptive", "forgetting_budget": 1.5, "replay": 0.1, "replay_bounds": [0.02, 0.4]}


def test_the_replay_share_is_steered_at_every_eval_and_recorded(tmp_path):
    root = make_workspace(tmp_path, mix_tokens=20000, mix=ADAPTIVE, train={"eval_every": 4})
    s = run_train(
        params(root), root / "models/start", root / "data/mix", root / "data/tokens", root / "out", root / "live"
    )
    qa, docs = s["phases"]
    assert "adaptive" not in qa
    steered = docs["adaptive"]
    evals = [g for g in range(docs["first_step"], docs["last_step"] + 1) if g % 4 == 0 or g == s["steps"]]
    assert len(steered["updates"]) == len(evals) > 5
    assert (
        steered["start_share"]
        == json.loads((root / "data/mix/phases.json").read_text())["phases"][1]["adaptive"]["start_shares"]["replay"]
    )
    # here replay is the domain's own text (the workspace's shards): documents lower its loss, the ratio
    # stays far under the budget's target and the share falls to its floor
    assert all(u["ratio"] < 1.0 for u in steered["updates"]) and steered["final_share"] == 0.02
    drawn = steered["realised"]
    assert {k: v["tokens"] for k, v in drawn.items() if v["tokens"]} == {
        k: v for k, v in docs["sources"].items() if k != "qa"
    }
    assert drawn["replay"]["share"] < steered["start_share"]
    curves = root / "live/plots/metrics"
    share_curve = (curves / "mix/replay_share.tsv").read_text().splitlines()[1:]
    ratio_curve = (curves / "eval/ppl_ratio.tsv").read_text().splitlines()[1:]
    assert [int(r.split("\t")[0]) for r in share_curve] == evals  # the share: its documents phase's evals
    all_evals = [g for g in range(1, s["steps"] + 1) if g % 4 == 0 or g == s["steps"]]
    assert [int(r.split("\t")[0]) for r in ratio_curve] == all_evals  # forgetting: every eval of the run


def run_stage(root) -> dict:
    out = subprocess.run(STAGE, cwd=root, env=stage_env(), capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    return json.loads((root / "reports/train/summary.json").read_text())


def test_kill_9_then_resume_draws_the_same_blocks_and_gives_the_same_weights(tmp_path):
    root = make_workspace(
        tmp_path / "killed", mix_tokens=20000, mix=ADAPTIVE, train={"eval_every": 3, "save_every": 12}
    )
    ref_root = tmp_path / "whole"
    shutil.copytree(root, ref_root)
    state = json.loads((kill_after_checkpoint(root) / "state.json").read_text())
    assert state["start_eval"]["eval/replay_loss"] > 0  # the reference survives the kill
    assert state["steering"]["docs_qa"]["controller"]["history"]  # so does the controller, mid-phase

    resumed, whole = run_stage(root), run_stage(ref_root)
    assert 0 < resumed["resumed_from_step"] < resumed["steps"]
    assert resumed["phases"][1]["adaptive"] == whole["phases"][1]["adaptive"]  # shares, ratios, blocks drawn
    assert resumed["phases"][1]["sources"] == whole["phases"][1]["sources"]
    a = load_file(root / "models/cpt/model.safetensors")
    b = load_file(ref_root / "models/cpt/model.safetensors")
    assert a.keys() == b.keys() and all(torch.allclose(a[k], b[k], atol=1e-6) for k in a)


def test_two_processes_run_an_adaptive_phase(tmp_path):
    """Under accelerate (2 CPU processes) share changes land between steps on both processes (the
    evals, and so the shares, are computed alike on each): the stage finishes and records the steering."""
    from tests.train.test_train_stage import ACCELERATE_CONFIG, free_port

    cfg = tmp_path / "accelerate.yaml"
    cfg.write_text(ACCELERATE_CONFIG.format(port=free_port()))
    root = make_workspace(
        tmp_path / "ws", mix_tokens=20000, mix=ADAPTIVE, train={"accelerate_config": str(cfg), "eval_every": 3}
    )
    s = run_stage(root)
    assert s["world_size"] == 2
    a = s["phases"][1]["adaptive"]
    assert len(a["updates"]) >= 3 and sum(v["blocks"] for v in a["realised"].values()) > 0

"""`python -m stages.train` as DVC runs it: kill -9 then rerun resumes; an accelerate config runs 2 processes."""

import json
import socket
import subprocess
import time

from transformers import AutoModelForCausalLM

from cptpipe.train.run import run_train
from tests.train.workspace import STAGE, kill_after_checkpoint, make_workspace, params, stage_env


def test_kill_9_after_a_checkpoint_then_rerun_resumes_and_matches(tmp_path):
    root = make_workspace(tmp_path / "ws", recipe="cpt", mix_tokens=48000, train={"save_every": 10})
    ckpts = root / "checkpoints/train"
    step = int(kill_after_checkpoint(root).name.split("-")[1])
    assert not (root / "models/cpt").exists()

    out = subprocess.run(STAGE, cwd=root, env=stage_env(), capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert f"resuming from step {step}" in out.stdout + out.stderr
    resumed = json.loads((root / "reports/train/summary.json").read_text())
    assert resumed["resumed_from_step"] == step < resumed["steps"]
    assert not any(ckpts.iterdir()), "checkpoints are deleted after the final save"
    loss_steps = [
        int(line.split("\t")[0])
        for line in (root / "reports/train/plots/metrics/train/loss.tsv").read_text().splitlines()[1:]
    ]
    assert loss_steps == sorted(set(loss_steps)) and loss_steps[0] == 2 and loss_steps[-1] == resumed["steps"]

    ref = run_train(
        params(root),
        root / "models/start",
        root / "data/mix",
        root / "data/tokens",
        tmp_path / "ref",
        tmp_path / "ref-live",
        ckpt_root=None,
    )
    diff = abs(resumed["final_loss"] - ref["final_loss"]) / ref["final_loss"]
    print(f"resumed from step {step}: final loss {resumed['final_loss']} vs {ref['final_loss']} ({diff:.4%})")
    assert diff < 0.02
    AutoModelForCausalLM.from_pretrained(root / "models/cpt")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


ACCELERATE_CONFIG = """compute_environment: LOCAL_MACHINE
distributed_type: MULTI_CPU
num_processes: 2
num_machines: 1
machine_rank: 0
main_process_ip: 127.0.0.1
main_process_port: {port}
mixed_precision: 'no'
use_cpu: true
rdzv_backend: static
same_network: true
"""


def test_accelerate_config_runs_the_stage_on_two_cpu_processes(tmp_path):
    cfg = tmp_path / "accelerate.yaml"
    cfg.write_text(ACCELERATE_CONFIG.format(port=free_port()))
    root = make_workspace(tmp_path / "ws", recipe="pit", train={"accelerate_config": str(cfg), "save_every": 3})
    t0 = time.time()
    out = subprocess.run(STAGE, cwd=root, env=stage_env(), capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert "on 2 process(es)" in out.stdout, out.stdout
    s = json.loads((root / "reports/train/summary.json").read_text())
    assert s["world_size"] == 2 and s["global_batch"] == 2 * s["batch_size"]
    assert [p["name"] for p in s["phases"]] == ["qa", "docs_qa"]
    assert 0.0 <= s["eval"]["eval/heldout_em"] <= 1.0  # the probe ran on both processes without a hang
    AutoModelForCausalLM.from_pretrained(root / "models/cpt")
    assert not list(root.glob("models/.cpt.tmp-*")), "only the main process writes models/cpt"
    print(f"2-process stage run: {time.time() - t0:.1f}s")

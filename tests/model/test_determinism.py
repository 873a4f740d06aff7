"""The model stage writes the same bytes whatever the thread count it runs with (README "Reproducibility")."""

import json
import os
import subprocess
import sys

import yaml

from cptpipe.timings import TIMINGS_DIR
from tests.helpers import ROOT

TINY_SCRATCH = {"vocab_size": 600, "hidden_size": 64, "layers": 2, "heads": 2, "context": 128}


def run_model_stage(repo, out: str, threads: int) -> dict[str, bytes]:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "src")]),
        "OMP_NUM_THREADS": str(threads),
        "MKL_NUM_THREADS": str(threads),
    }
    cmd = [sys.executable, "-m", "stages.model", "--replay", "replay", "--instruct", "instruct", "--out", out]
    proc = subprocess.run(cmd, cwd=repo, env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return {p.name: p.read_bytes() for p in sorted((repo / out).iterdir())}


def test_model_stage_bytes_do_not_depend_on_the_thread_count(tmp_path):
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["model"]["scratch"].update(TINY_SCRATCH, pretrain_tokens=16384, instruct_tune=False)
    params["tokenize"]["seq_len"] = TINY_SCRATCH["context"]
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    for source, rows in (("replay", 80), ("instruct", 40)):
        (tmp_path / source).mkdir()
        lines = (ROOT / f"data/{source}/train.jsonl").read_text().splitlines(keepends=True)[:rows]
        (tmp_path / source / "train.jsonl").write_text("".join(lines))
    one = run_model_stage(tmp_path, "start_1", threads=1)
    three = run_model_stage(tmp_path, "start_3", threads=3)
    assert set(one) >= {"model.safetensors", "START.json", "tokenizer.json"}
    assert json.loads(one["START.json"])["steps"] >= 8
    assert [name for name in one if one[name] != three.get(name)] == []
    # the stage's wall-clock time is logged outside its output, never in it
    assert "seconds" not in one["START.json"].decode()
    assert json.loads((tmp_path / TIMINGS_DIR / "model.json").read_text())["pretrain_seconds"] > 0

import copy
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from cptpipe.errors import ParamsError
from cptpipe.params import Params, TrainParams, load_params, parse_params, resolve_lr
from tests.helpers import stage_args

ROOT = Path(__file__).resolve().parents[1]
RAW = yaml.safe_load((ROOT / "params.yaml").read_text())


def problems(mutate) -> list[str]:
    raw = copy.deepcopy(RAW)
    mutate(raw)
    with pytest.raises(ParamsError) as e:
        parse_params(raw)
    return e.value.problems


def test_shipped_params_are_valid_and_typed():
    p = load_params(ROOT / "params.yaml")
    assert isinstance(p, Params)
    assert p.mix.domain + p.mix.replay + p.mix.instruct == pytest.approx(1.0)
    assert p.model.scratch.context >= p.tokenize.seq_len


def test_every_problem_is_reported_at_once_with_its_key():
    def bad(raw):
        raw["mix"]["domain"] = 0.95
        raw["mix"]["replay"] = 0.2
        raw["train"]["recipe"] = "foo"
        raw["train"]["lr"] = "fast"
        raw["qa"]["generator"] = "gpt"
        raw["mix"]["colour"] = 1

    found = "\n".join(problems(bad))
    assert "mix.colour: unknown key" in found
    assert "train.recipe: 'foo' is not allowed" in found and "'pit'" in found
    assert "train.lr: expected" in found
    assert "qa.generator: 'gpt' is not allowed" in found and "'rules'" in found


def test_shares_must_sum_to_one():
    found = problems(lambda r: r["mix"].update(domain=0.95, replay=0.2))
    assert any("sum to 1" in p and "1.17" in p for p in found)


def test_negative_lr_and_seq_len_over_context():
    found = problems(lambda r: (r["train"].update(lr=-1e-4), r["tokenize"].update(seq_len=4096)))
    assert any(p.startswith("train.lr: must be a positive") for p in found)
    assert any(p.startswith("tokenize.seq_len: 4096 is larger than the model context") for p in found)


def test_nested_unknown_key_and_wrong_type():
    found = problems(lambda r: (r["model"]["scratch"].update(depth=3), r["ingest"].update(min_chars="x")))
    assert any(p.startswith("model.scratch.depth: unknown key") for p in found)
    assert any(p.startswith("ingest.min_chars: expected an integer") for p in found)


def test_eval_backend_model_args_and_auto_batch():
    raw = copy.deepcopy(RAW)
    raw["eval"].update(batch_size="auto", backend="vllm", model_args={"dtype": "bfloat16", "max_length": 8192})
    ev = parse_params(raw).eval
    assert (ev.batch_size, ev.backend, ev.model_args) == ("auto", "vllm", {"dtype": "bfloat16", "max_length": 8192})
    found = problems(lambda r: r["eval"].update(batch_size="big", backend="tgi", model_args=["dtype=bf16"]))
    assert "eval.batch_size: expected an integer or one of 'auto', got 'big'" in found
    assert any(p.startswith("eval.backend: 'tgi' is not allowed") and "'vllm'" in p for p in found)
    assert any(p.startswith("eval.model_args: expected a mapping") for p in found)
    assert any(
        p.startswith("eval.batch_size: must be >= 1") for p in problems(lambda r: r["eval"].update(batch_size=0))
    )


def test_lr_presets_by_kind_and_warning_outside_range():
    assert resolve_lr(TrainParams(), "base").lr == 3e-4
    assert resolve_lr(TrainParams(), "instruct").lr == 5e-5
    r = resolve_lr(TrainParams(lr=1e-3), "instruct")
    assert r.lr == 1e-3 and r.source == "params" and "outside the recommended range" in r.warning
    assert resolve_lr(TrainParams(lr=2e-4), "base").warning is None


def test_stage_cli_exits_2_with_short_message_and_writes_nothing(tmp_path):
    raw = copy.deepcopy(RAW)
    raw["mix"].update(domain=0.95, replay=0.2)
    raw["train"]["recipe"] = "foo"
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(raw))
    (tmp_path / "data/raw").mkdir(parents=True)
    (tmp_path / "data/raw/a.txt").write_text("some text " * 50)
    env = {**os.environ, "PYTHONPATH": f"{ROOT / 'src'}{os.pathsep}{ROOT}"}
    proc = subprocess.run(
        [sys.executable, "-m", "stages.ingest", *stage_args("ingest")],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert "train.recipe" in proc.stderr and "sum to 1" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) <= 6
    assert not (tmp_path / "data/shards").exists() and not (tmp_path / "reports").exists()

"""Params profiles (profiles/*.yaml): validated against params.yaml, run as one named `dvc exp run`."""

from pathlib import Path

import pytest
import yaml

from cptpipe.errors import UserError
from cptpipe.profile import applied, check_profile, exp_command, main

ROOT = Path(__file__).resolve().parents[1]


def test_the_shipped_smollm2_profile_is_valid_and_becomes_one_named_experiment():
    sets = check_profile(ROOT / "profiles/smollm2.yaml", ROOT / "params.yaml")
    assert sets["model.name_or_path"].endswith(".gguf") and sets["model.kind"] == "instruct"
    cmd = exp_command("smollm2", sets)
    assert cmd[:5] == ["dvc", "exp", "run", "-n", "smollm2"]
    assert 'ingest.include=["encyclopedia/person/*"]' in cmd and "model.kind=instruct" in cmd
    assert "-S" in cmd and cmd.count("-S") == len(sets)
    # the same override grammar as the study's arms: a mapping with bare keys, a float with a dot
    cmd = exp_command("x", {"train.lora": {"r": 8}, "train.lr": 5e-5})
    assert cmd[-3:] == ["train.lora={r:8}", "-S", "train.lr=5.0e-05"]


def test_applied_sets_nested_and_null_sections_without_touching_the_source():
    params = {"train": {"lr": None, "lora": None}, "seed": 0}
    out = applied(params, {"train.lora.r": 8, "train.lr": 1e-4, "seed": 3})
    assert out == {"train": {"lr": 1e-4, "lora": {"r": 8}}, "seed": 3}
    assert params == {"train": {"lr": None, "lora": None}, "seed": 0}
    with pytest.raises(UserError, match="seed.x: seed is not a section"):
        applied(params, {"seed.x": 1})


def test_a_bad_profile_stops_before_dvc_naming_the_file_and_key(tmp_path, capsys, monkeypatch):
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({"train.lr": -1, "model.kind": "chat"}))
    with pytest.raises(UserError) as e:
        check_profile(bad, ROOT / "params.yaml")
    assert "bad.yaml" in str(e.value) and "train.lr" in str(e.value) and "model.kind" in str(e.value)
    monkeypatch.chdir(ROOT)
    assert main([str(bad)]) == 2
    assert "cptpipe profile:" in capsys.readouterr().err
    assert main([str(ROOT / "profiles/smollm2.yaml"), "--dry"]) == 0
    assert capsys.readouterr().out.startswith("dvc exp run -n smollm2 -S ")
    args = [str(ROOT / "profiles/smollm2.yaml"), "--dry", "--name", "gpu", "--set", "train.precision=bf16"]
    assert main([*args, "--set", "eval.limit=null"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("dvc exp run -n gpu ") and "-S train.precision=bf16" in out and "-S eval.limit=null" in out
    assert main([*args, "--set", "train.precision=fp8"]) == 2  # validated with the profile
    assert "train.precision" in capsys.readouterr().err

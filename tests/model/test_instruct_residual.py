"""The instruction residual: the model stage stores (instruct - base), train adds it back."""

import json

import pytest
import torch
from safetensors.torch import load_file
from transformers import AutoModelForCausalLM

from cptpipe.errors import ParamsError
from cptpipe.model.prepare import build_start
from cptpipe.model.residual import RESIDUAL_FILE, add_residual, weight_delta
from cptpipe.params import parse_params
from tests.model.test_instruct_start import _params, small_data  # noqa: F401 - the fixture


def test_residual_is_the_instruct_start_minus_the_base_start(small_data, tmp_path):  # noqa: F811
    replay, instruct = small_data
    builds = {}
    cases = (("base", False, False), ("tuned", True, False), ("both", False, True), ("tuned_both", True, True))
    for name, tune, residual in cases:
        p = _params(tune)
        p.model.instruct_residual = residual
        (tmp_path / name).mkdir()
        builds[name] = build_start(p, replay, instruct, tmp_path / name)
    load = lambda n: AutoModelForCausalLM.from_pretrained(tmp_path / n).state_dict()  # noqa: E731
    base, tuned, start = load("base"), load("tuned"), load("both")
    assert all(torch.equal(base[k], start[k]) for k in base)  # the start stays the base
    assert json.loads((tmp_path / "both/START.json").read_text())["kind"] == "base"
    assert not (tmp_path / "base" / RESIDUAL_FILE).exists()
    residual = load_file(tmp_path / "both" / RESIDUAL_FILE)
    model = AutoModelForCausalLM.from_pretrained(tmp_path / "both")
    assert add_residual(model, residual, 1.0) > 0
    back = model.state_dict()
    # base + (instruct - base) is the instruct start, to float rounding
    assert max((back[k] - tuned[k]).abs().max().item() for k in tuned) < 1e-5
    assert max(v.abs().max().item() for v in residual.values()) > 1e-3  # the tuning moved the weights
    # an instruct start that keeps its residual: the tuned weights, and the same residual
    tuned_both = load("tuned_both")
    assert all(torch.equal(tuned[k], tuned_both[k]) for k in tuned)
    kept = load_file(tmp_path / "tuned_both" / RESIDUAL_FILE)
    assert all(torch.equal(kept[k], residual[k]) for k in residual)
    assert json.loads((tmp_path / "tuned_both/START.json").read_text())["kind"] == "instruct"


def test_weight_delta_refuses_models_of_other_shapes():
    with pytest.raises(ValueError, match="differ in their weights' names"):
        weight_delta({"a": torch.zeros(2)}, {"b": torch.zeros(2)})
    with pytest.raises(ValueError, match=r"a: instruct \(3,\) vs base \(2,\)"):
        weight_delta({"a": torch.zeros(3)}, {"a": torch.zeros(2)})


def test_residual_params_need_each_other():
    with pytest.raises(ParamsError, match="train.instruct_residual: needs model.instruct_residual: true"):
        parse_params({"train": {"instruct_residual": 1.0}})
    with pytest.raises(ParamsError, match="model.instruct_name_or_path"):
        parse_params({"model": {"name_or_path": "org/base", "instruct_residual": True}})
    # an instruct start may keep its residual: a residual arm then shares its tuning
    parse_params(
        {"model": {"instruct_residual": True, "scratch": {"instruct_tune": True}}, "train": {"instruct_residual": 1.0}}
    )

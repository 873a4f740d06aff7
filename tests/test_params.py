import copy
import dataclasses
import math
import os
import subprocess
import sys
import typing
from pathlib import Path

import pytest
import yaml

from cptpipe.errors import ParamsError
from cptpipe.params import (
    LR_PRESETS,
    Bound,
    Params,
    PhaseSchedule,
    RecipeParams,
    TrainParams,
    load_params,
    load_yaml,
    parse_params,
    phase_lrs,
    to_dict,
)
from tests.helpers import stage_args

ROOT = Path(__file__).resolve().parents[1]
RAW = yaml.safe_load((ROOT / "params.yaml").read_text())


def problems(mutate) -> list[str]:
    raw = copy.deepcopy(RAW)
    mutate(raw)
    with pytest.raises(ParamsError) as e:
        parse_params(raw)
    return e.value.problems


def bounded_fields(cls: type = Params, prefix: str = "") -> list[tuple[str, Bound, bool]]:
    """(key, bound, integer) of every field declared with a bound, sections (optional ones too) walked;
    a mapping of sections (recipes.<name>) is walked under the name x."""
    found = []
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        inner = [a for a in typing.get_args(hints[f.name]) if a is not type(None)] or [hints[f.name]]
        section = next((a for a in inner if dataclasses.is_dataclass(a)), None)
        named = typing.get_origin(hints[f.name]) is dict
        if section is not None:
            found += bounded_fields(section, f"{prefix}{f.name}.{'x.' if named else ''}")
        elif "bound" in f.metadata:
            found.append((f"{prefix}{f.name}", f.metadata["bound"], int in inner))
    return found


BOUNDED = bounded_fields()


def just_outside(b: Bound, integer: bool) -> list[float]:
    """The values nearest each end of the bound that it refuses."""

    def step(x: float, direction: int) -> float:
        return x + direction if integer else math.nextafter(x, direction * math.inf)

    ends = [step(b.ge, -1) if b.ge is not None else b.gt, step(b.le, 1) if b.le is not None else b.lt]
    return [(int if integer else float)(v) for v in ends if v is not None and v != b.also]


def set_key(raw: dict, key: str, value) -> dict:
    """Set a dotted key in a params mapping (an optional section left null is created); return the mapping."""
    *path, last = key.split(".")
    node = raw
    for part in path:
        node[part] = node.get(part) or {}
        node = node[part]
    node[last] = value
    return raw


def test_shipped_params_are_valid_and_round_trip():
    p = load_params(ROOT / "params.yaml")
    assert isinstance(p, Params)
    assert parse_params(to_dict(p)) == p  # what a stage records (to_dict) reads back as the same params


def test_bounds_are_found_in_nested_and_optional_sections():
    keys = {key for key, _, _ in BOUNDED}
    assert {"train.lr", "mix.replay", "model.rope_scaling.factor", "ingest.filters.max_blob_frac"} <= keys


@pytest.mark.parametrize(("key", "bound", "integer"), BOUNDED, ids=[k for k, _, _ in BOUNDED])
def test_every_bound_refuses_the_nearest_value_outside_and_names_the_key(key, bound, integer):
    outside = just_outside(bound, integer)
    assert outside
    for value in outside:
        with pytest.raises(ParamsError) as e:
            parse_params(set_key(copy.deepcopy(RAW), key, value))
        assert any(p.startswith(f"{key}: must be ") and p.endswith(f"got {value}") for p in e.value.problems), (
            value,
            e.value.problems,
        )
    for edge in (bound.ge, bound.le, bound.also):  # the closed ends and the extra value are allowed
        if edge is not None:
            try:
                parse_params(set_key(copy.deepcopy(RAW), key, int(edge) if integer else float(edge)))
            except ParamsError as e:
                assert not any(p.startswith(f"{key}: must be ") for p in e.problems), (edge, e.problems)


def test_every_bound_broken_at_once_is_reported_at_once():
    raw = copy.deepcopy(RAW)
    for key, bound, integer in BOUNDED:
        set_key(raw, key, just_outside(bound, integer)[0])
    with pytest.raises(ParamsError) as e:
        parse_params(raw)
    reported = {p.split(":")[0] for p in e.value.problems}
    assert {key for key, _, _ in BOUNDED} <= reported


def test_a_value_of_the_wrong_type_is_one_problem_and_no_check_compares_it():
    found = problems(lambda r: (r["model"]["scratch"].update(heads="x"), r["mix"].update(replay="most")))
    assert found == ["model.scratch.heads: expected an integer, got 'x'", "mix.replay: expected a number, got 'most'"]


def test_every_problem_is_reported_at_once_with_its_key():
    def bad(raw):
        raw["recipes"]["cpt"]["phases"]["docs"]["replay"] = 0.99
        raw["recipes"]["pit"]["phases"]["qa"]["passes"] = {"wiki": 1}
        raw["train"]["recipe"] = "foo"
        raw["train"]["lr"] = "fast"
        raw["qa"]["generator"] = "gpt"
        raw["mix"]["colour"] = 1
        raw["train"]["warmup"] = 1.0
        raw["tokenize"]["seq_len"] = 4096

    found = "\n".join(problems(bad))
    assert "recipes.cpt.phases.docs: replay (0.99) + instruct (0.02) leave nothing for domain" in found
    assert "recipes.pit.phases.qa.passes: unknown source 'wiki'" in found
    assert "train.warmup: must be in [0, 1), got 1.0" in found
    assert "tokenize.seq_len: 4096 is larger than the model context" in found
    assert "mix.colour: unknown key" in found
    assert "train.recipe: 'foo' is not a key of the recipes section" in found and "'pit'" in found
    assert "train.lr: expected" in found
    assert "qa.generator: 'gpt' is not allowed" in found and "'rules'" in found


def test_replay_and_instruct_must_leave_room_for_a_phases_own_sources():
    found = problems(lambda r: r["mix"].update(replay=0.9, instruct=0.1))
    assert any(p.startswith("recipes.cpt.phases.docs: replay (0.9) + instruct (0.1) leave nothing") for p in found)


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


@pytest.mark.parametrize("kind", sorted(LR_PRESETS))
def test_phase_lr_is_the_kinds_preset_unless_set_and_a_problem_outside_its_range(kind):
    preset = LR_PRESETS[kind]
    phases = {"a": {"domain": 1}, "b": {"qa": 1}, "c": {"qa": 1}}
    recipe = parse_params({"train": {"recipe": "r"}, "recipes": {"r": {"phases": phases}}}).recipes["r"]
    schedule = {"b": {"lr_scale": 0.5}, "c": {"lr": 2e-3}}
    recipe.schedule = (
        parse_params({"train": {"recipe": "r"}, "recipes": {"r": {"phases": phases, "schedule": schedule}}})
        .recipes["r"]
        .schedule
    )
    lrs = phase_lrs(TrainParams(), recipe, kind)
    assert lrs["a"].lr == preset["default"] and lrs["a"].source == f"preset:{kind}" and lrs["a"].problem is None
    assert lrs["b"].lr == preset["default"] * 0.5 and lrs["b"].source == f"preset:{kind} x 0.5"
    assert lrs["c"].lr == 2e-3 and lrs["c"].source == "recipe"
    assert (lrs["c"].problem is None) == (kind == "scratch"), lrs["c"].problem  # only scratch learns at 2e-3
    at = phase_lrs(TrainParams(lr=preset["low"]), recipe, kind)
    assert at["a"].problem is None and at["a"].source == "params"
    assert isinstance(recipe, RecipeParams)


def test_stage_cli_exits_2_with_short_message_and_writes_nothing(tmp_path):
    raw = copy.deepcopy(RAW)
    raw["recipes"]["pit"]["phases"]["qa"]["replay"] = 0.99
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
    assert "train.recipe" in proc.stderr and "leave nothing for qa" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) <= 6
    assert not (tmp_path / "data/shards").exists() and not (tmp_path / "reports").exists()


def test_an_adaptive_schedule_needs_room_a_documents_phase_and_evals():
    def adaptive(**changes):
        def mutate(r):
            r["mix"].update(schedule="adaptive")
            for key, value in changes.items():
                section, name = key.split("__")
                r[section][name] = value

        return problems(mutate)

    assert adaptive(mix__replay_bounds=[0.3, 0.2]) == [
        "mix.replay_bounds: give [low, high] replay shares with 0 <= low <= high < 1, got [0.3, 0.2]"
    ]
    assert any("leaves no room for documents" in p for p in adaptive(mix__replay_bounds=[0.0, 0.99]))
    no_docs = adaptive(train__recipe="qa_only", recipes__qa_only={"phases": {"qa": {"qa": 1}}})
    assert any("recipes.qa_only has none (no phase with domain)" in p for p in no_docs)
    assert any("train.eval_every: 0 never measures forgetting" in p for p in adaptive(train__eval_every=0))
    assert any("mix.forgetting_budget" in p for p in adaptive(mix__forgetting_budget=1.0))


@pytest.mark.parametrize("kind", sorted(LR_PRESETS))
@pytest.mark.parametrize("recipe", sorted(RAW["recipes"]))
def test_every_shipped_recipe_is_valid_on_every_start_kind(recipe, kind):
    assert {"cpt", "it_after_cpt", "pit", "mixed", "pit_docs_only", "pit_final_it"} <= set(RAW["recipes"])
    p = parse_params(RAW)
    lrs = phase_lrs(p.train, p.recipes[recipe], kind)
    assert set(lrs) == set(RAW["recipes"][recipe]["phases"])
    assert [f"{name}: {lr.problem}" for name, lr in lrs.items() if lr.problem] == []


def test_a_per_kind_lr_scale_picks_the_kinds_entry_else_default_and_names_bad_kinds():
    phases = {"qa": {"qa": 1}}
    schedule = {"qa": {"lr_scale": {"default": 0.1, "instruct": 0.4}}}
    raw = {"train": {"recipe": "r"}, "recipes": {"r": {"phases": phases, "schedule": schedule}}}
    recipe = parse_params(raw).recipes["r"]
    assert phase_lrs(TrainParams(), recipe, "instruct")["qa"].lr == pytest.approx(
        0.4 * LR_PRESETS["instruct"]["default"]
    )
    scratch = phase_lrs(TrainParams(), recipe, "scratch")["qa"]
    assert (
        scratch.lr == pytest.approx(0.1 * LR_PRESETS["scratch"]["default"]) and scratch.source == "preset:scratch x 0.1"
    )
    no_default = dataclasses.replace(recipe, schedule={"qa": PhaseSchedule(lr_scale={"instruct": 0.4})})
    lr = phase_lrs(TrainParams(), no_default, "base")["qa"]
    assert "no scale for a base start" in lr.problem
    bad = copy.deepcopy(raw)
    bad["recipes"]["r"]["schedule"]["qa"]["lr_scale"] = {"chat": 0.4, "base": -1}
    with pytest.raises(ParamsError) as e:
        parse_params(bad)
    assert "recipes.r.schedule.qa.lr_scale.chat: unknown start kind" in str(e.value)
    assert "recipes.r.schedule.qa.lr_scale.base: must be a positive number" in str(e.value)


def test_exponent_floats_without_a_dot_are_numbers(tmp_path):
    """`dvc exp run -S train.lr=5e-5` writes `lr: 5e-05` (YAML 1.2); PyYAML alone reads a string there."""
    base = (Path(__file__).resolve().parents[1] / "params.yaml").read_text()
    path = tmp_path / "params.yaml"
    path.write_text(base.replace("  lr: null ", "  lr: 5e-05 ", 1))
    assert load_params(path).train.lr == 5e-05
    assert load_yaml("a: 1e+20\nb: 5e5\nc: '5e-5'\nd: 1_000\ne: x1e5") == {
        "a": 1e20,
        "b": 5e5,
        "c": "5e-5",  # quoted: still a string
        "d": 1000,
        "e": "x1e5",
    }

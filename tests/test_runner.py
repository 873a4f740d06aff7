"""The runner's pure parts: grid reading and expansion, queueing helpers, aggregation over seeds, cells.

tests/test_e2e.py runs a quick study and a sweep through it for real."""

from pathlib import Path

import pytest
import yaml

from cptpipe.errors import UserError
from cptpipe.runner import (
    Arm,
    Grid,
    aggregate,
    cell,
    expand,
    failed_lines,
    grid_from,
    queue_order,
    queue_status,
    read_grid,
    run_arms,
    set_args,
    worker_env,
)

ROOT = Path(__file__).resolve().parents[1]

GRID = Grid(
    prefix="t",
    common={"train.lr": 0.001},
    axes={
        "start": {"base": {"model.kind": "base"}, "instruct": {"model.kind": "instruct"}},
        "recipe": {"cpt": {"train.recipe": "cpt"}, "pit": {"train.recipe": "pit"}},
    },
    extra={"base-pit-r0": {"from": "base-pit", "set": {"mix.replay": 0.0}}},
    seeds=[3, 4],
    seeded_arms=["base-pit"],
)


def test_expand_takes_the_product_extra_arms_and_seeds():
    arms = expand(GRID)
    assert sorted({a.name for a in arms}) == [
        "t-base-cpt",
        "t-base-pit",
        "t-base-pit-r0",
        "t-instruct-cpt",
        "t-instruct-pit",
    ]
    by_exp = {a.exp_name: dict(a.overrides) for a in arms}
    assert len(by_exp) == len(arms)  # experiment names never clash
    # only the seeded arm runs once per seed; the others at the first seed
    assert {e for e in by_exp if e.startswith("t-base-pit-s")} == {"t-base-pit-s3", "t-base-pit-s4"}
    assert "t-instruct-pit-s3" in by_exp and "t-instruct-pit-s4" not in by_exp
    r0 = by_exp["t-base-pit-r0-s3"]
    assert r0 == {"train.lr": 0.001, "model.kind": "base", "train.recipe": "pit", "mix.replay": 0.0, "mix.seed": 3}


def test_expand_names_every_unknown_arm_at_once():
    bad = Grid(
        "t", GRID.common, GRID.axes, extra={"r0": {"from": "typo-arm"}}, seeds=[0], seeded_arms=["nope", "base-cpt"]
    )
    with pytest.raises(UserError) as err:
        expand(bad, refs=[("claim 'c':", ["base-cpt", "base-pat"])])
    msg = str(err.value)
    assert "from='typo-arm'" in msg and "seeds.arms ['nope']" in msg and "claim 'c': ['base-pat'] are not arms" in msg
    assert "arms: ['base-cpt', 'base-pit', 'instruct-cpt', 'instruct-pit']" in msg


def test_read_grid_allows_the_callers_keys_and_refuses_others(tmp_path):
    path = tmp_path / "g.yaml"
    path.write_text("name: a b\naxes: {a: {x: {}}}\nclaims: []\n")
    problems: list[str] = []
    grid = grid_from(read_grid(path, own_keys={"claims"}), problems)
    assert grid.axes == {"a": {"x": {}}} and (grid.seeds, grid.seeded_arms) == ([0], [])
    assert problems == ["name='a b' must be letters, digits and '_' (it prefixes git refs)"]
    with pytest.raises(UserError, match="unknown keys \\['claims'\\]"):
        read_grid(path)
    path.write_text("axes: {a: {x: {}}}\ntypo: 1\n")
    with pytest.raises(UserError, match="typo"):
        read_grid(path)
    path.write_text("name: t\n")
    with pytest.raises(UserError, match="`axes` is required"):
        read_grid(path)
    with pytest.raises(UserError, match="not found"):
        read_grid(tmp_path / "missing.yaml")


def test_one_arm_per_start_of_its_own_queues_first_and_its_siblings_last():
    arms = expand(grid_from(read_grid(ROOT / "study/grid.yaml", own_keys={"claims", "labelled", "sanity"}), []))
    ordered = queue_order(arms)
    # the instruct start (other model.* values) is built by one arm while the base arms run beside it;
    # the arms sharing it queue last, when the run cache holds it
    own = ["study-instruct-pit", "study-instruct-pit-tuned", "study-residual-pit"]
    assert ordered[0].name == own[0]
    assert [a.name for a in ordered[-2:]] == own[1:]
    assert sorted(ordered, key=arms.index) == arms  # a reordering: no arm lost or added
    assert ordered[1:-2] == [a for a in arms if a.name not in own]  # the rest keep grid order
    same_start = [a for a in arms if a.name not in own]
    assert queue_order(same_start) == same_start


def test_set_args_writes_yaml_scalars():
    arm = Arm(
        "x",
        0,
        (("mix.replay", 0.0), ("model.scratch.instruct_tune", True), ("train.recipe", "pit"), ("train.lr", None)),
    )
    assert set_args(arm) == [
        "-S",
        "mix.replay=0.0",
        "-S",
        "model.scratch.instruct_tune=true",
        "-S",
        "train.recipe=pit",
        "-S",
        "train.lr=null",
    ]
    lora = {"r": 16, "target_modules": ["q_proj", "v_proj"], "dropout": 0.0}
    assert set_args(Arm("x", 0, (("train.lora", lora), ("ingest.include", ["person/[a-h]*"])))) == [
        "-S",
        'train.lora={r:16,target_modules:["q_proj","v_proj"],dropout:0.0}',
        "-S",
        'ingest.include=["person/[a-h]*"]',
    ]
    # small and large floats keep a dot in the mantissa: without it Hydra and YAML 1.1 read a string
    floats = set_args(Arm("x", 0, (("train.lr", 5e-5), ("mix.tokens", 1e20), ("train.warmup", 0.05))))
    assert floats[1::2] == ["train.lr=5.0e-05", "mix.tokens=1.0e+20", "train.warmup=0.05"]
    from hydra.core.override_parser.overrides_parser import OverridesParser

    parsed = [o.value() for o in OverridesParser.create().parse_overrides(floats[1::2])]
    assert parsed == [5e-5, 1e20, 0.05]
    assert yaml.safe_load(floats[1].split("=")[1]) == 5e-5  # DVC writes it into params.yaml as a float


def test_queue_status_parses_the_dvc_table():
    text = """Task     Name               Created    Status
753b005  quick-base-cpt-s0  04:01 PM   Success
1ae8b65  quick-base-pit-s0  04:01 PM   Running
0bbb118  quick-base-pit-s1  04:02 PM   Queued
9abc001  old-one            03:00 PM   Failed

Worker status: 1 active, 0 idle
"""
    assert queue_status(text) == {
        "quick-base-cpt-s0": "Success",
        "quick-base-pit-s0": "Running",
        "quick-base-pit-s1": "Queued",
        "old-one": "Failed",
    }


def test_worker_env_splits_the_cores_between_queue_workers():
    assert worker_env(2, cores=2)["OMP_NUM_THREADS"] == "1"
    assert worker_env(1, cores=16)["OMP_NUM_THREADS"] == "16" and worker_env(3, cores=16)["MKL_NUM_THREADS"] == "5"
    assert worker_env(4, cores=2)["OMP_NUM_THREADS"] == "1"  # never zero threads


def _arms(name: str, seeds: int, kind: str = "base") -> list[Arm]:
    return [Arm(name, s, (("model.kind", kind),)) for s in range(seeds)]


def test_aggregate_mean_sample_std_and_provenance():
    arms = _arms("s-a", 3) + _arms("s-b", 2, "instruct") + _arms("s-c", 1)
    rows = {
        exp: {"metrics": m}
        for exp, m in {
            "s-a-s0": {"cpt.domain_qa.em": 0.40, "x": 1.0},
            "s-a-s1": {"cpt.domain_qa.em": 0.42},
            "s-a-s2": {"cpt.domain_qa.em": 0.44, "x": True},
            "s-b-s1": {"cpt.domain_qa.em": 0.2},
        }.items()
    }  # s-b-s0 failed, s-c never ran
    agg = aggregate(arms, rows, before={"s-a-s0", "s-a-s2", "s-zzz-s0"})
    a, b, c = agg["s-a"], agg["s-b"], agg["s-c"]
    mean, sd = a["stats"]["cpt.domain_qa.em"]
    assert mean == pytest.approx(0.42) and sd == pytest.approx(0.02)
    assert (a["n"], a["new"], a["reused"], a["seeds"]) == (3, 1, 2, [0, 1, 2])
    assert a["stats"]["x"] == (1.0, None)  # booleans are not numbers; one value has no spread
    assert b["stats"]["cpt.domain_qa.em"] == (0.2, None) and (b["n"], b["new"], b["start"]) == (1, 1, "instruct")
    assert (c["n"], c["stats"]) == (0, {})


def test_cells_and_the_failed_section():
    assert (cell((0.4, 0.02)), cell((0.4, None)), cell(None)) == ("0.400 ± 0.020", "0.400", "–")
    assert failed_lines("runs", "Rerun the sweep", []) == []
    assert failed_lines("arms", "Rerun `make study`", ["a", "b"])[-1] == (
        "Rerun `make study` to retry them (finished arms are reused): `a`, `b`"
    )


def test_a_copy_path_that_is_not_there_stops_before_anything_is_queued(tmp_path):
    arm = Arm("g-a", 0, (("train.lr", 0.001),))
    with pytest.raises(UserError, match=r"copy_paths \['models/gguf'\] do not exist; build them first"):
        run_arms([arm], tmp_path, done={}, copy_paths=["models/gguf"])
    assert run_arms([arm], tmp_path, done={"g-a-s0": {}}, copy_paths=["models/gguf"]) == []  # nothing to run

"""The generated params reference: every key of params.yaml, with its value and the schema's bounds."""

from pathlib import Path

import yaml

from cptpipe.cli import main
from cptpipe.params_doc import known_key, render, rows, yaml_comments

ROOT = Path(__file__).resolve().parents[1]
PARAMS = ROOT / "params.yaml"


def _keys(raw: dict, prefix: str = "") -> set[str]:
    out = set()
    for k, v in raw.items():
        out.add(prefix + k)
        if isinstance(v, dict):
            out |= _keys(v, f"{prefix}{k}.")
    return out


def test_every_key_of_params_yaml_is_a_row_with_its_value():
    by_key = {r.key: r for r in rows(PARAMS)}
    raw = yaml.safe_load(PARAMS.read_text())
    free = {"recipes.pit_final_it.phases.final_it.passes.qa"}  # inside a {source: passes} mapping
    missing = _keys(raw) - set(by_key) - free
    assert not missing, f"params.yaml keys missing from the reference: {sorted(missing)}"
    assert by_key["mix.replay"].value == "0.06"
    assert by_key["mix.replay"].bounds == "in [0, 1)"
    assert by_key["train.lr"].value == "null"
    assert by_key["model.kind"].kind == "base | instruct"
    assert by_key["tokenize.seq_len"].bounds == ">= 8"
    assert by_key["ingest.boilerplate_repeats"].bounds == "0 or >= 2"
    assert "block length in tokens" in by_key["tokenize.seq_len"].comment


def test_schema_keys_that_params_yaml_leaves_out_are_listed_with_their_default():
    by_key = {r.key: r for r in rows(PARAMS)}
    assert by_key["train.lora.r"].value == "not set (default `16`)"
    assert by_key["recipes.<recipe>.schedule.<phase>.warmup"].bounds == "in [0, 1)"
    assert by_key["recipes.<recipe>.phases.<phase>.tokens"].kind == "integer or null"


def test_comments_come_from_the_line_of_their_key():
    text = "a:  # section\n  b: 1   # one\n  c: '#x'  # two # three\nd: [1, 2]\n"
    assert yaml_comments(text) == {"a": "section", "a.b": "one", "a.c": "two # three", "d": ""}


def test_known_keys_follow_the_schema():
    assert known_key("mix.replay")
    assert known_key("recipes.mine.phases.docs_qa.domain")
    assert known_key("train.lora.r")
    assert not known_key("mix.qa")  # a key of earlier versions
    assert not known_key("recipes.pit.phases.qa.wiki")
    assert not known_key("train.lr.x")


def test_cli_writes_the_page(tmp_path, capsys):
    out = tmp_path / "params.md"
    main(["params-doc", "--params", str(PARAMS), "--out", str(out)])
    assert out.read_text() == render(PARAMS)
    assert "| `train.recipe` | `pit` |" in out.read_text()
    main(["params-doc", "--params", str(PARAMS)])
    assert capsys.readouterr().out == render(PARAMS)

"""Every data/, models/ and reports/ path is written once, in dvc.yaml: stages get them from their cmd."""

import ast
import shlex
from pathlib import Path

import yaml

from tests.helpers import ROOT

PREFIXES = ("data/", "models/", "reports/")
SCANNED = (ROOT / "src/cptpipe", ROOT / "stages")


def docstrings(tree: ast.AST) -> set[int]:
    """ids of the docstring nodes of a module and its classes and functions (they may describe the DAG)."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                found.add(id(body[0].value))
    return found


def path_literals(path: Path) -> list[str]:
    """`file:line: 'literal'` for each string constant (f-string parts too) that starts like a DAG path."""
    tree = ast.parse(path.read_text(), filename=str(path))
    skip = docstrings(tree)
    return [
        f"{path.relative_to(ROOT)}:{node.lineno}: {node.value!r}"
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and id(node) not in skip
        and node.value.startswith(PREFIXES)
        and not any(c.isspace() for c in node.value)  # a sentence that opens with a path is a message, not a path
    ]


def test_no_module_hard_codes_a_dag_path():
    found = [hit for top in SCANNED for f in sorted(top.rglob("*.py")) for hit in path_literals(f)]
    assert not found, "paths belong in dvc.yaml and reach the code as arguments:\n" + "\n".join(found)


def stages() -> dict[str, dict]:
    """dvc.yaml's stages with foreach expanded: {"eval@cpt": {cmd, deps, outs, ...}}, ${key}/${item.x} filled in."""
    out = {}
    for name, stage in yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"].items():
        if "foreach" not in stage:
            out[name] = stage
            continue
        for key, item in stage["foreach"].items():
            text = yaml.safe_dump(stage["do"]).replace("${key}", key)
            for field, value in item.items():
                text = text.replace(f"${{item.{field}}}", str(value))
            out[f"{name}@{key}"] = yaml.safe_load(text)
    return out


def paths(entries: list) -> list[str]:
    """The paths of a deps/outs/metrics/plots list (an entry is a path or {path: options})."""
    return [e if isinstance(e, str) else next(iter(e)) for e in entries or []]


def test_every_stage_cmd_passes_its_outputs():
    missing = []
    for name, stage in stages().items():
        args = set(shlex.split(stage["cmd"]))
        for out in paths(stage.get("outs")) + paths(stage.get("metrics")) + paths(stage.get("plots")):
            if out not in args:
                missing.append(f"{name}: {out}")
    assert not missing, "outputs the stage's cmd does not pass:\n" + "\n".join(missing)


def test_every_stage_cmd_passes_its_data_inputs():
    # a dep may be a file inside a folder the cmd passes (the model stage reads data/replay/train.jsonl)
    missing = []
    for name, stage in stages().items():
        args = set(shlex.split(stage["cmd"]))
        for dep in paths(stage.get("deps")):
            if dep.startswith(PREFIXES) and not any(dep == a or dep.startswith(a.rstrip("/") + "/") for a in args):
                missing.append(f"{name}: {dep}")
    assert not missing, "inputs the stage's cmd does not pass:\n" + "\n".join(missing)

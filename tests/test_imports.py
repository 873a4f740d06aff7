"""Imports between the packages of src/cptpipe run one way: no cycle."""

import ast
from pathlib import Path

from tests.helpers import ROOT

SRC = ROOT / "src/cptpipe"


def package_of(path: Path) -> str:
    parts = path.relative_to(SRC).with_suffix("").parts
    return parts[0]


def package_imports() -> dict[str, set[str]]:
    """package -> the other cptpipe packages (or top-level modules) it imports, lazily or not."""
    edges: dict[str, set[str]] = {}
    for f in SRC.rglob("*.py"):
        pkg = package_of(f)
        for node in ast.walk(ast.parse(f.read_text())):
            names = []
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            for name in names:
                if name.startswith("cptpipe."):
                    target = name.split(".")[1]
                    if target != pkg:
                        edges.setdefault(pkg, set()).add(target)
    return edges


def find_cycle(edges: dict[str, set[str]]) -> list[str] | None:
    """One cycle as a path [a, b, ..., a], or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(node: str, path: list[str]) -> list[str] | None:
        state[node] = 1
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == 1:
                return path[path.index(nxt) :] + [node, nxt] if nxt in path else [node, nxt]
            if nxt not in state and (cycle := visit(nxt, path + [node])):
                return cycle
        state[node] = 2
        return None

    for start in sorted(edges):
        if start not in state and (cycle := visit(start, [])):
            return cycle
    return None


def test_find_cycle_finds_a_planted_cycle_and_accepts_a_dag():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) in (["a", "b", "c", "a"],)
    assert find_cycle({"a": {"b", "c"}, "b": {"c"}, "c": set()}) is None


def test_no_import_cycle_between_cptpipe_packages():
    edges = package_imports()
    assert "train" in edges and "model" in edges["train"]  # the walk sees real imports
    cycle = find_cycle(edges)
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_model_stage_deps_list_no_training_loop_file():
    import yaml

    deps = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]["model"]["deps"]
    assert not [d for d in deps if d.startswith("src/cptpipe/train")], deps

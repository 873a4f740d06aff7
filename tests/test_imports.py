"""The shape of src/cptpipe: imports run one way, stages declare what they import, functions fit a screen."""

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
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b", "c"}, "b": {"c"}, "c": set()}) is None


def test_no_import_cycle_between_cptpipe_packages():
    edges = package_imports()
    assert "train" in edges and "model" in edges["train"]  # the walk sees real imports
    cycle = find_cycle(edges)
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_study_and_sweep_share_the_runner_not_each_other():
    edges = package_imports()
    assert "runner" in edges["study"] and "runner" in edges["sweep"]
    assert "sweep" not in edges["study"] and "study" not in edges["sweep"]
    assert not edges["runner"] & {"study", "sweep", "cli"}  # the runner sits below both


def test_model_stage_deps_list_no_training_loop_file():
    import yaml

    deps = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]["model"]["deps"]
    assert not [d for d in deps if d.startswith("src/cptpipe/train")], deps


def module_file(name: str) -> Path | None:
    rel = Path(*name.split(".")[1:])
    for candidate in (SRC / rel.with_suffix(".py"), SRC / rel / "__init__.py"):
        if candidate.exists():
            return candidate
    return None


def imported_files(path: Path) -> set[Path]:
    """The cptpipe files `path` imports, lazily or not (one level)."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        names = []
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        out |= {f for n in names if n.startswith("cptpipe.") and (f := module_file(n)) is not None}
    return out


def import_closure(start: Path, leaves: set[Path]) -> set[Path]:
    """Every cptpipe file `start` reaches through imports, not looking inside `leaves`."""
    seen, todo = set(), [start]
    while todo:
        f = todo.pop()
        if f not in seen:
            seen.add(f)
            if f not in leaves:
                todo.extend(imported_files(f))
    return seen


# Shared leaves every stage reads through params parsing, errors and the CLI wrapper; a change
# to them is meant to rerun nothing by itself (they do not change what a stage computes).
# timings.py writes only logs/timings/, which no stage reads (listed where it shapes a tracked report).
LEAVES = {SRC / name for name in ("__init__.py", "cli.py", "errors.py", "progress.py", "io.py", "timings.py")} | set(
    (SRC / "params").glob("*.py")
)


def test_every_stage_declares_the_cptpipe_files_it_imports():
    import yaml

    stages = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    missing = {}
    for name, stage in stages.items():
        script = ROOT / "stages" / f"{name}.py"
        body = stage.get("do", stage)  # foreach stages (tokenize@, eval@) keep theirs under `do`
        deps = [ROOT / d for d in body["deps"] if "${" not in d]
        for f in import_closure(script, LEAVES):
            if f == script or f in LEAVES or f.name == "__init__.py":
                continue
            if not any(f == d or d in f.parents for d in deps):
                missing.setdefault(name, []).append(str(f.relative_to(ROOT)))
    assert not missing, f"stage deps in dvc.yaml miss imported files: {missing}"


MAX_FUNCTION_LINES = 60  # a function a reader takes in at once


def test_no_function_in_the_library_is_longer_than_a_screen():
    long = [
        f"{f.relative_to(ROOT)}:{n.lineno} {n.name} ({n.end_lineno - n.lineno + 1} lines)"
        for f in SRC.rglob("*.py")
        for n in ast.walk(ast.parse(f.read_text()))
        if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef) and n.end_lineno - n.lineno + 1 > MAX_FUNCTION_LINES
    ]
    assert not long, long

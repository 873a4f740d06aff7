"""README and docs/ say only what the repository has: params keys, make targets, files, commands.

`mkdocs build --strict` (in `make test`) checks the site's links and pages; these check the words.
"""

import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from cptpipe.cli import main as cptpipe_main
from cptpipe.params import parse_params
from cptpipe.params_doc import known_key
from tests.helpers import ROOT

DOCS = [ROOT / "README.md", ROOT / "ARCHITECTURE.md", *sorted((ROOT / "docs").glob("*.md"))]
SECTIONS = ("seed", "model", "ingest", "qa", "tokenize", "mix", "train", "eval", "recipes")
KEY = re.compile(rf"(?<![\w./-])((?:{'|'.join(SECTIONS)})(?:\.[A-Za-z0-9_<>]+)+)")
FILE_SUFFIX = re.compile(r"\.(py|md|json|jsonl|yaml|yml|png|parquet|txt|toml|lock|dvc|html)$")
FENCE = re.compile(r"^```[^\n]*\n(.*?)^```", re.M | re.S)
SPAN = re.compile(r"`([^`\n]+)`")
# Targets the docs name ahead of the Makefile: added by work that lands beside this (remove once it has)
PENDING_TARGETS: set[str] = set()
# Paths the walkthrough tells the user to create
USER_PATHS = {"data/raw/docs", "data/raw.dvc", "models/local/smollm2", "models/local/smollm2.dvc"}
GENERATED = ("data/shards", "data/qa", "data/tokens", "data/mix", "models/", "reports/", "logs/", "checkpoints/")
GENERATED_PAGES = {"docs/params.md", "docs/architecture.md"}  # written at build time by docs/hooks.py
TOP = ("src/", "tests/", "bench/", "study/", "stages/", "docs/", "data/", "cptpipe/")


def split(path: Path) -> tuple[str, list[str]]:
    """(prose without fenced blocks, the fenced blocks' bodies)."""
    text = path.read_text()
    return FENCE.sub("", text), FENCE.findall(text)


def spans(path: Path) -> list[str]:
    return SPAN.findall(split(path)[0])


def shell_lines(path: Path) -> list[str]:
    """The command lines of a page's fenced blocks (continuations joined), comments dropped."""
    out = []
    for block in split(path)[1]:
        for line in block.replace("\\\n", " ").splitlines():
            line = line.strip()
            if line and not line.startswith("#"):
                out.append(line)
    return out


def commands(path: Path, prefix: tuple[str, ...]) -> list[list[str]]:
    """Command lines that start with `prefix` (the words after a leading `.venv/bin/` too)."""
    found = []
    for line in shell_lines(path):
        try:
            words = shlex.split(line, comments=True)
        except ValueError:
            continue
        if words and words[0].startswith(".venv/bin/"):
            words[0] = words[0].removeprefix(".venv/bin/")
        if tuple(words[: len(prefix)]) == prefix:
            found.append(words)
    return found


def set_params(words: list[str]) -> list[tuple[str, str]]:
    """The `-S key=value` pairs of a `dvc exp run` command line."""
    pairs = []
    for flag, arg in zip(words, words[1:]):
        if flag in ("-S", "--set-param"):
            key, _, value = arg.partition("=")
            pairs.append((key, value))
    return pairs


def params_keys_named(path: Path) -> set[str]:
    keys = {m for span in spans(path) for m in KEY.findall(span) if not FILE_SUFFIX.search(m)}
    keys |= {k for words in commands(path, ("dvc", "exp", "run")) for k, _ in set_params(words)}
    return keys


@pytest.mark.parametrize("page", DOCS, ids=lambda p: p.name)
def test_every_params_key_named_is_one_params_yaml_accepts(page):
    unknown = sorted(k for k in params_keys_named(page) if not known_key(k))
    assert not unknown, f"{page.name} names params keys that params.yaml has not: {unknown}"


def test_the_key_finder_finds_keys_and_skips_files(tmp_path):
    page = tmp_path / "p.md"
    page.write_text(
        "Set `mix.qa: 0.2` and `train.lr`, not `reports/qa.json` or `eval.py`.\n```\ndvc exp run -S seed=1\n```\n"
    )
    assert params_keys_named(page) == {"mix.qa", "train.lr", "seed"}
    assert not known_key("mix.qa")


def makefile_targets() -> set[str]:
    text = (ROOT / "Makefile").read_text()
    return set(re.findall(r"^([A-Za-z][\w-]*)\s*:(?!=)", text, re.M))


def make_targets_named(path: Path) -> set[str]:
    prose, blocks = split(path)
    texts = SPAN.findall(prose) + blocks
    return {t for text in texts for t in re.findall(r"(?<![\w-])make\s+(?:-\S+\s+)*([a-z][\w-]*)(?!\w*=)", text)}


@pytest.mark.parametrize("page", DOCS, ids=lambda p: p.name)
def test_every_make_target_named_is_in_the_makefile(page):
    missing = make_targets_named(page) - makefile_targets() - PENDING_TARGETS
    assert not missing, f"{page.name} names make targets the Makefile lacks: {sorted(missing)}"


def repo_paths_named(path: Path) -> set[str]:
    """Code spans and markdown links that name a file or folder of the repository."""
    prose = split(path)[0]
    found = set()
    for span in SPAN.findall(prose):
        for word in span.split():
            if word.startswith(TOP) and re.fullmatch(r"[\w./-]+", word) and ".." not in word:
                found.add(word.rstrip("/.,;:"))
    for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", prose):
        if "://" not in target:
            found.add(str((path.parent / target).resolve().relative_to(ROOT)))
    return {p for p in found if not p.startswith(GENERATED) and p not in USER_PATHS | GENERATED_PAGES}


def exists(path: str) -> bool:
    return any((base / path).exists() for base in (ROOT, ROOT / "src", ROOT / "src/cptpipe"))


@pytest.mark.parametrize("page", DOCS, ids=lambda p: p.name)
def test_every_repository_path_named_exists(page):
    missing = sorted(p for p in repo_paths_named(page) if not exists(p))
    assert not missing, f"{page.name} names paths the repository lacks: {missing}"


def test_readme_is_short():
    assert len((ROOT / "README.md").read_text().splitlines()) <= 250


def test_user_docs_name_no_commits_or_issues():
    hash_or_issue = re.compile(
        r"\b(?=[0-9a-f]*[a-f])(?=[0-9a-f]*[0-9])[0-9a-f]{7,40}\b|\bissue \d+|#\d{2,}\b|the seed's"
    )
    for page in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        found = hash_or_issue.findall(page.read_text())
        assert not found, f"{page.name}: {found}"


@pytest.mark.parametrize("page", DOCS, ids=lambda p: p.name)
def test_every_dvc_exp_run_of_the_docs_validates(page):
    """The params edits of each `dvc exp run -S ...` line, applied to params.yaml, pass validation."""
    for words in commands(page, ("dvc", "exp", "run")):
        raw = yaml.safe_load((ROOT / "params.yaml").read_text())
        for key, value in set_params(words):
            *parents, last = key.split(".")
            node = raw
            for part in parents:
                node = node.setdefault(part, {})
            node[last] = yaml.safe_load(value)
        parse_params(raw, " ".join(words))


def test_readme_cptpipe_commands_exist_and_validate_runs(capsys):
    for words in commands(ROOT / "README.md", ("cptpipe",)):
        with pytest.raises(SystemExit) as done:
            cptpipe_main([words[1], "--help"])
        assert done.value.code == 0, words
    out = subprocess.run(
        [sys.executable, "-m", "cptpipe.cli", "validate"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    assert "cptpipe validate: params.yaml ok (recipe pit)" in out


def test_readme_dvc_commands_and_their_flags_exist():
    """Each `dvc <command>` of the README exists, with every flag it is given (`--help` of each)."""
    dvc = str(Path(sys.executable).parent / "dvc")
    by_command: dict[tuple[str, ...], set[str]] = {}
    for words in commands(ROOT / "README.md", ("dvc",)):
        command = tuple(w for w in words[1:3] if not w.startswith("-") and "=" not in w and "." not in w)
        command = command[:2] if command and command[0] in ("exp", "metrics", "plots", "remote") else command[:1]
        by_command.setdefault(command, set()).update(w.split("=")[0] for w in words if w.startswith("-"))
    assert ("exp", "run") in by_command and ("add",) in by_command
    for command, flags in by_command.items():
        help_text = subprocess.run([dvc, *command, "--help"], capture_output=True, text=True, check=True).stdout
        unknown = [f for f in flags if not re.search(rf"(?<![\w-]){re.escape(f)}\b", help_text)]
        assert not unknown, f"dvc {' '.join(command)}: {unknown}"


def readme_block(containing: str) -> str:
    blocks = [b for b in split(ROOT / "README.md")[1] if containing in b]
    assert len(blocks) == 1, containing
    return blocks[0]


def test_walkthrough_puts_documents_and_model_under_dvc_and_the_dag_takes_them(tmp_path):
    """README steps 2 and 3 as written, in a clone (the model download replaced by a stand-in folder)."""
    docs = tmp_path / "mine"
    docs.mkdir()
    (docs / "widget.md").write_text("# Widget\n\nThe widget was made in 1999 by Acme in Springfield.\n")
    repo = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(ROOT), str(repo)], check=True)
    step2 = readme_block("git rm -r -q data/raw/encyclopedia").replace("/path/to/your/documents", str(docs))
    step3 = readme_block("dvc add models/local/smollm2")
    download = step3[step3.index("python - <<'PY'") : step3.index("\nPY\n") + 4]
    stand_in = "mkdir -p models/local/smollm2 && echo '{}' > models/local/smollm2/config.json\n"
    env = {"PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin", "HOME": str(tmp_path), "GIT_AUTHOR_NAME": "t",
           "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t"}  # fmt: skip
    script = "set -e\n" + step2 + step3.replace(download, stand_in)
    subprocess.run(["bash", "-c", script], cwd=repo, env=env, check=True, capture_output=True, text=True)
    assert (repo / "data/raw.dvc").exists() and (repo / "models/local/smollm2.dvc").exists()
    status = subprocess.run(["git", "status", "--short"], cwd=repo, capture_output=True, text=True).stdout
    assert status == "", status  # everything the steps made is committed or ignored
    dry = subprocess.run(["dvc", "repro", "--dry", "ingest"], cwd=repo, env=env, capture_output=True, text=True)
    assert "Running stage 'ingest'" in dry.stdout and dry.returncode == 0, dry.stdout + dry.stderr

"""The Makefile's command lines for a user's choices (printed by `make -n`, nothing run)."""

import re
import shutil
import subprocess

import pytest

from tests.helpers import ROOT

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
CUDA = "https://download.pytorch.org/whl/cu128"


def dry_run(*args: str) -> str:
    out = subprocess.run(["make", "-n", *args], cwd=ROOT, capture_output=True, text=True, check=True)
    return out.stdout


def test_setup_installs_torch_from_the_index_named_by_TORCH_INDEX():
    lines = dry_run("-B", "setup", f"TORCH_INDEX={CUDA}").splitlines()
    torch = [ln for ln in lines if '"torch==' in ln]
    expected = rf'\.venv/bin/python -m pip install -q "torch==[0-9.]+" --force-reinstall --index-url {re.escape(CUDA)}'
    assert len(torch) == 1 and re.fullmatch(expected, torch[0]), lines
    lock = lines.index(".venv/bin/python -m pip install -q --no-deps -r requirements-lock.txt")
    assert lines.index(torch[0]) < lock  # torch first, then the lock without resolving
    assert any(CUDA in ln and ".venv/.torch-index" in ln for ln in lines)  # kept for later make calls


def test_setup_without_TORCH_INDEX_uses_the_default_index():
    lines = dry_run("-B", "setup", "TORCH_INDEX=").splitlines()
    assert [ln for ln in lines if re.fullmatch(r'\.venv/bin/python -m pip install -q "torch==[0-9.]+" ?', ln)]
    assert not [ln for ln in lines if "--index-url" in ln]


def test_clean_keeps_models_of_the_user():
    lines = [ln for ln in dry_run("clean").splitlines() if ln.startswith("rm ")]
    assert len(lines) == 1 and "models/start" in lines[0] and "models/cpt" in lines[0]
    assert " models " not in lines[0] + " " and "models/local" not in lines[0]


def test_docs_and_test_build_the_site_strictly():
    assert ".venv/bin/mkdocs build --strict" in dry_run("-B", "docs")
    assert ".venv/bin/mkdocs build --strict" in dry_run("-B", "test")

"""requirements-lock.txt: the whole environment at exact versions, agreeing with pyproject.toml."""

import re
from importlib import metadata
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
tomllib = pytest.importorskip("tomllib")  # Python 3.11+
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;]+)$")


def norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def locked() -> dict[str, str]:
    lines = [ln.strip() for ln in (ROOT / "requirements-lock.txt").read_text().splitlines()]
    lines = [ln for ln in lines if ln and not ln.startswith("#")]
    assert lines[-1] == "-e .", "cptpipe itself is the lock's last line, installed with --no-deps"
    pins = {}
    for ln in lines[:-1]:
        m = PIN.match(ln)
        assert m, f"not an exact pin: {ln!r}"
        pins[norm(m[1])] = m[2]
    return pins


def project_requirements() -> list[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"]
    return project["dependencies"] + [r for r in extras["dev"] + extras["ray"] if not r.startswith("cptpipe")]


def test_lock_pins_every_requirement_and_never_torch_or_cuda():
    pins = locked()
    assert not [n for n in pins if n == "torch" or n.startswith(("nvidia-", "cuda"))]
    for req in project_requirements():
        name = norm(re.split(r"[<>=!~\[ ;]", req, maxsplit=1)[0])
        if name == "torch":  # installed first by `make setup`, from TORCH_VERSION
            continue
        assert name in pins, f"{name} is a dependency in pyproject.toml but not in the lock: run `make lock`"
        exact = re.search(r"==\s*([^\s,;]+)", req)
        if exact:
            assert pins[name] == exact[1], f"{name}: pyproject {exact[1]} vs lock {pins[name]}: run `make lock`"


def test_installed_packages_are_the_locked_versions():
    """The venv the tests run in is the locked one (a stale venv: `make setup` reinstalls)."""
    off = {}
    for name, version in locked().items():
        try:
            have = metadata.version(name)
        except metadata.PackageNotFoundError:
            pytest.skip(f"{name} not installed: not a `make setup` environment")
        if have != version:
            off[name] = (version, have)
    assert not off, f"locked vs installed: {off}"

"""A params profile: a YAML file of params keys and values, run as one named `dvc exp run`.

    python -m cptpipe.profile profiles/smollm2.yaml          # dvc exp run -n smollm2 -S key=value ...
    python -m cptpipe.profile profiles/smollm2.yaml --dry    # print the command only
    python -m cptpipe.profile profiles/smollm2.yaml --name smollm2-gpu --set train.precision=bf16

The profile's values are applied to params.yaml and validated before DVC starts, so a bad key stops
here with the file and key named. The experiment runs in the workspace (it can read untracked files
such as a downloaded model); `dvc exp show` lists it beside the committed run.
"""

from __future__ import annotations

import argparse
import copy
import subprocess
import sys
from pathlib import Path

from cptpipe.errors import ParamsError, UserError
from cptpipe.params import parse_params
from cptpipe.params.yamlio import load_yaml, set_arg


def read_profile(path: str | Path) -> dict[str, object]:
    """{dotted params key: value} of a profile file."""
    raw = load_yaml(Path(path).read_text())
    if not isinstance(raw, dict) or not all(isinstance(k, str) for k in raw):
        raise UserError(f"{path}: expected a mapping of params keys (e.g. train.lr) to values")
    return raw


def applied(params: dict, sets: dict[str, object]) -> dict:
    """params.yaml's mapping with each dotted key set (sections created as needed)."""
    out = copy.deepcopy(params)
    for key, value in sets.items():
        node = out
        *parents, leaf = key.split(".")
        for part in parents:
            if node.get(part) is None:  # absent, or a null section such as train.lora
                node[part] = {}
            if not isinstance(node[part], dict):
                raise UserError(f"{key}: {part} is not a section of params.yaml")
            node = node[part]
        node[leaf] = value
    return out


def parse_sets(pairs: list[str]) -> dict[str, object]:
    """KEY=VALUE pairs (values read as YAML, as `dvc exp run -S` reads them)."""
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise UserError(f"--set {pair!r}: expected KEY=VALUE, e.g. train.precision=bf16")
        out[key] = load_yaml(value)
    return out


def check_profile(
    profile: str | Path, params_file: str | Path = "params.yaml", extra: dict[str, object] | None = None
) -> dict[str, object]:
    """The profile's sets (then `extra`'s), validated against params.yaml with them applied, all problems at once."""
    sets = {**read_profile(profile), **(extra or {})}
    try:
        parse_params(applied(load_yaml(Path(params_file).read_text()), sets), f"{params_file} + {profile}")
    except ParamsError as e:
        raise UserError(str(e)) from None
    return sets


def exp_command(name: str, sets: dict[str, object]) -> list[str]:
    """`dvc exp run -n NAME -S key=value ...`; values as YAML/JSON scalars so DVC writes the same types."""
    args = ["dvc", "exp", "run", "-n", name]
    for key, value in sets.items():
        args += ["-S", set_arg(key, value)]
    return args


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m cptpipe.profile", description=__doc__.splitlines()[0])
    ap.add_argument("profile", type=Path, help="YAML file of params keys -> values")
    ap.add_argument("--name", default=None, help="experiment name (default: the file's stem)")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="one more params value")
    ap.add_argument("--dry", action="store_true", help="print the dvc command and stop")
    args = ap.parse_args(argv)
    try:
        sets = check_profile(args.profile, extra=parse_sets(args.set))
    except UserError as e:
        print(f"cptpipe profile: {e}", file=sys.stderr)
        return 2
    cmd = exp_command(args.name or args.profile.stem, sets)
    print(" ".join(cmd), flush=True)
    if args.dry:
        return 0
    return subprocess.run(cmd, check=False).returncode


if __name__ == "__main__":
    sys.exit(main())

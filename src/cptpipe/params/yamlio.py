"""The YAML reader of cptpipe's own files (params.yaml, profiles, study and sweep grids)."""

from __future__ import annotations

import re
from typing import Any

import yaml


class _Yaml12Floats(yaml.SafeLoader):
    """PyYAML's safe loader (YAML 1.1) with YAML 1.2's floats: `5e-5` and `1e+20` are numbers, as DVC
    (ruamel, YAML 1.2) writes them into params.yaml for `dvc exp run -S train.lr=5e-5` and as users
    type them; PyYAML alone reads them as strings."""


_Yaml12Floats.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(
        r"^[-+]?(?:[0-9][0-9_]*\.[0-9_]*(?:[eE][-+]?[0-9]+)?|\.[0-9_]+(?:[eE][-+]?[0-9]+)?"
        r"|[0-9][0-9_]*[eE][-+]?[0-9]+|\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"
    ),
    list("-+0123456789."),
)


def load_yaml(text: str) -> Any:
    """A YAML document as yaml.safe_load reads it, except that exponent floats without a dot are numbers."""
    return yaml.load(text, Loader=_Yaml12Floats)  # a SafeLoader subclass: no arbitrary objects

"""The YAML reader of cptpipe's own files (params.yaml, profiles, study and sweep grids), and the writer of
values for `dvc exp run -S`."""

from __future__ import annotations

import json
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


def override_value(value: object) -> str:
    """A value in the grammar of DVC's `-S` (Hydra overrides): JSON scalars and strings, lists in
    brackets, mappings as {key:value} with bare keys (Hydra refuses quoted ones)."""
    if isinstance(value, dict):
        return "{" + ",".join(f"{k}:{override_value(v)}" for k, v in value.items()) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(override_value(v) for v in value) + "]"
    text = json.dumps(value)
    if isinstance(value, float) and "e" in text and "." not in text:
        # 5e-05 reads as a string to Hydra and YAML 1.1 (no dot in the mantissa): write 5.0e-05
        mantissa, exponent = text.split("e")
        text = f"{mantissa}.0e{exponent if exponent[0] in '+-' else '+' + exponent}"
    return text


def set_arg(key: str, value: object) -> str:
    """`key=value` for `dvc exp run -S`: a string as it is, anything else in the override grammar, so
    that DVC writes the same type into params.yaml."""
    return f"{key}={value if isinstance(value, str) else override_value(value)}"

"""The params reference, generated: every key of params.yaml with its value, type, bounds and comment.

One owner each: the values and comments are params.yaml's own lines, the types and bounds are the
typed schema's (`cptpipe.params.Params` and the `bound` metadata beside each field). `cptpipe
params-doc` prints it; the docs site renders it at build time (`docs/hooks.py`), so it never drifts.
"""

from __future__ import annotations

import dataclasses
import re
import types
import typing
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal, Union, get_args, get_origin

import yaml

from cptpipe.params import LR_PRESETS, Params

# a key of a dict-valued field, written as a placeholder: recipes.<recipe>.phases.<phase>.domain
PLACEHOLDERS = {"recipes": "<recipe>", "phases": "<phase>", "schedule": "<phase>"}
_KEY_LINE = re.compile(r"^(?P<indent> *)(?P<key>[A-Za-z_][A-Za-z0-9_]*):(?P<rest>.*)$")


@dataclasses.dataclass
class Row:
    key: str
    value: str  # as params.yaml sets it; "not set (default ...)" for a schema key params.yaml leaves out
    kind: str  # the type in words
    bounds: str  # the allowed range, "" when there is none
    comment: str


def _split_comment(rest: str) -> tuple[str, str]:
    """(value text, comment) of a YAML line's rest; a '#' inside quotes or brackets is not a comment."""
    depth, quote = 0, ""
    for i, ch in enumerate(rest):
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch in "[{":
            depth += 1
        elif ch in "]}":
            depth -= 1
        elif ch == "#" and depth == 0 and (i == 0 or rest[i - 1] == " "):
            return rest[:i].strip(), rest[i + 1 :].strip()
    return rest.strip(), ""


def yaml_comments(text: str) -> dict[str, str]:
    """The comment written on each key's line of params.yaml, by dotted key (block mappings only)."""
    comments: dict[str, str] = {}
    stack: list[tuple[int, str]] = []
    for line in text.splitlines():
        m = _KEY_LINE.match(line)
        if not m:
            continue
        indent = len(m["indent"])
        while stack and stack[-1][0] >= indent:
            stack.pop()
        key = ".".join([k for _, k in stack] + [m["key"]])
        _, comment = _split_comment(m["rest"])
        comments[key] = comment
        stack.append((indent, m["key"]))
    return comments


def section_intros(text: str) -> dict[str, str]:
    """The comment block written just above each top-level key (not the file's opening block)."""
    intros: dict[str, str] = {}
    block: list[str] = []
    seen_key = False
    for line in text.splitlines():
        if line.startswith("#"):
            block.append(line.lstrip("#").strip())
            continue
        m = _KEY_LINE.match(line)
        if m and not m["indent"] and block and seen_key:
            intros[m["key"]] = " ".join(block)
        seen_key = seen_key or bool(m)
        block = []
    return intros


def _unwrap(tp: Any) -> tuple[Any, bool]:
    """(the type inside Optional, whether null is allowed)."""
    if get_origin(tp) in (Union, types.UnionType):
        args = get_args(tp)
        inner = [a for a in args if a is not type(None)]
        if len(inner) == 1:
            return inner[0], type(None) in args
    return tp, False


def describe(tp: Any) -> str:
    """A type in words, as a user writes the value in YAML."""
    tp, nullable = _unwrap(tp)
    origin = get_origin(tp)
    if origin is Literal:
        text = " | ".join(str(a) for a in get_args(tp))
    elif origin in (Union, types.UnionType):
        text = " or ".join(describe(a) for a in get_args(tp))
    elif origin is list:
        text = f"list of {describe(get_args(tp)[0])}"
    elif origin is dict or dataclasses.is_dataclass(tp):
        text = "mapping"
    else:
        text = {int: "integer", float: "number", bool: "true/false", str: "string"}.get(tp, str(tp))
    return text + (" or null" if nullable else "")


def schema_field(key: str) -> tuple[Any, Any] | None:
    """(annotation, dataclasses.Field or None) of a dotted key in the schema; None if it is not a key.

    A part under a dict-valued field (a recipe's name, a phase's name) may be any name.
    """
    tp: Any = Params
    fld = None
    for part in key.split("."):
        inner, _ = _unwrap(tp)
        if dataclasses.is_dataclass(inner):
            fields = {f.name: f for f in dataclasses.fields(inner)}
            if part not in fields:
                return None
            fld = fields[part]
            tp = typing.get_type_hints(inner)[part]
        elif get_origin(inner) is dict:
            args = get_args(inner)
            tp, fld = (args[1] if args else Any), None
            if not _is_name(part):
                return None
        else:
            return None
    return tp, fld


def _is_name(part: str) -> bool:
    return re.fullmatch(r"[A-Za-z0-9_]+|<[a-z_]+>", part) is not None


def _bounds(tp: Any, fld: Any) -> str:
    bound = fld.metadata.get("bound") if fld is not None else None
    if bound is None:
        return ""
    inner, _ = _unwrap(tp)
    return bound.allowed(inner is int)


def _flow(value: Any) -> str:
    text = yaml.safe_dump(value, default_flow_style=True, width=10_000).strip()
    return text[:-4].strip() if text.endswith("\n...") or text.endswith("...") else text


def _leaves(raw: Any, prefix: str) -> Iterator[tuple[str, Any, bool]]:
    """(dotted key, value, is_section) for every key of the loaded params.yaml, in file order."""
    for k, v in raw.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict) and v and not _free_mapping(key):
            yield key, v, True
            yield from _leaves(v, key + ".")
        else:
            yield key, v, False


def _free_mapping(key: str) -> bool:
    """A mapping whose keys are not schema keys (e.g. eval.model_args, a phase's passes)."""
    found = schema_field(key)
    if found is None:
        return False
    inner, _ = _unwrap(found[0])
    return get_origin(inner) is dict and get_args(inner)[1:] in ((Any,), (float,), (int,), (str,))


def _schema_only(tp: Any, prefix: str, written: set[str]) -> Iterator[str]:
    """Keys of the schema under `prefix` that params.yaml does not write (a null section's keys)."""
    inner, _ = _unwrap(tp)
    if dataclasses.is_dataclass(inner):
        for f in dataclasses.fields(inner):
            key = f"{prefix}.{f.name}"
            if key not in written:
                yield key
            yield from _schema_only(typing.get_type_hints(inner)[f.name], key, written)
    elif get_origin(inner) is dict and get_args(inner) and dataclasses.is_dataclass(get_args(inner)[1]):
        name = PLACEHOLDERS.get(prefix.rsplit(".", 1)[-1], "<name>")
        yield from _schema_only(get_args(inner)[1], f"{prefix}.{name}", written)


def rows(path: str | Path = "params.yaml") -> list[Row]:
    """Every key params.yaml writes (value, type, bounds, comment), then schema keys it leaves unwritten."""
    text = Path(path).read_text()
    raw = yaml.safe_load(text) or {}
    comments = yaml_comments(text)
    out, written = [], set()
    for key, value, section in _leaves(raw, ""):
        found = schema_field(key)
        tp, fld = found if found else (Any, None)
        written.add(key)
        out.append(
            Row(key, "" if section else _flow(value), "section" if section else describe(tp), _bounds(tp, fld),
                comments.get(key, ""))
        )  # fmt: skip
    for key in _generic_keys(written):
        tp, fld = schema_field(key)
        default = "not set"
        if fld is not None and fld.default is not dataclasses.MISSING:
            default = f"not set (default `{_flow(fld.default)}`)"
        out.append(Row(key, default, describe(tp), _bounds(tp, fld), ""))
    return out


def _generic_keys(written: set[str]) -> list[str]:
    """Schema keys params.yaml does not write, e.g. train.lora.r (lora is null) or a phase's `tokens`."""
    hints = typing.get_type_hints(Params)
    keys = []
    for f in dataclasses.fields(Params):
        keys.extend(_schema_only(hints[f.name], f.name, written))
    return [k for k in keys if schema_field(k) is not None]


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ") if text else ""


def render(path: str | Path = "params.yaml") -> str:
    """The params reference as one markdown page."""
    lines = [
        "# Params reference",
        "",
        "Generated from `params.yaml` (values and comments) and the typed schema in `cptpipe.params`",
        "(types and bounds) each time the site is built; `cptpipe params-doc` prints the same page.",
        "Every stage validates the whole file before any work, so a key or value outside these rows",
        "stops the first stage with a message naming it. `cptpipe validate` runs that check by hand.",
        "",
        "## Learning-rate presets",
        "",
        "`train.lr: null` takes the start model's default; every phase's LR must lie in its range.",
        "",
        "| start model | default | low | high |",
        "|---|---:|---:|---:|",
    ]
    for kind, preset in LR_PRESETS.items():
        lines.append(f"| {kind} | {preset['default']:g} | {preset['low']:g} | {preset['high']:g} |")
    intros = section_intros(Path(path).read_text())
    sections: dict[str, list[Row]] = {}
    for row in rows(path):
        sections.setdefault(row.key.split(".", 1)[0], []).append(row)
    for top, section in sections.items():
        lines += ["", f"## `{top}`", ""] + ([intros[top], ""] if top in intros else [])
        lines += ["| key | default (as params.yaml ships it) | type | bounds | comment |", "|---|---|---|---|---|"]
        for row in section:
            if row.kind == "section" and not row.comment:
                continue
            value = row.value if row.value.startswith("not set") or not row.value else f"`{row.value}`"
            lines.append(
                f"| `{row.key}` | {_cell(value)} | {_cell(row.kind)} | {_cell(row.bounds)} | {_cell(row.comment)} |"
            )
    return "\n".join(lines) + "\n"


def known_key(key: str) -> bool:
    """Whether a dotted key is one params.yaml may set (a written key, or a schema key under a named dict)."""
    return schema_field(key) is not None

"""The generic typed-YAML schema under params.yaml: a raw mapping converted to nested dataclasses by their type
hints (unknown keys and wrong types named with their dotted key), and each number's allowed range declared
beside its field (`bounded(...)`, `share(...)`). Nothing here knows a section of params.yaml."""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from dataclasses import dataclass, field
from typing import Any, Literal, Union, get_args, get_origin


@dataclass(frozen=True)
class Bound:
    """The allowed range of a number field; declared beside the field with `bounded(...)`."""

    ge: float | None = None
    gt: float | None = None
    le: float | None = None
    lt: float | None = None
    also: float | None = None  # one more allowed value outside the range, e.g. 0 for "off"
    why: str = ""  # what the range means, said in the message

    def admits(self, v: float) -> bool:
        return v == self.also or (
            (self.ge is None or v >= self.ge)
            and (self.gt is None or v > self.gt)
            and (self.le is None or v <= self.le)
            and (self.lt is None or v < self.lt)
        )

    def allowed(self, integer: bool) -> str:
        """The range in words: "in [0, 1)", ">= 8", "a positive number", "0 or >= 2"."""
        low, lo = (self.ge, "[") if self.ge is not None else (self.gt, "(")
        high, hi = (self.le, "]") if self.le is not None else (self.lt, ")")
        if low is not None and high is not None:
            text = f"in {lo}{low:g}, {high:g}{hi}"
        elif self.gt == 0:
            text = "a positive integer" if integer else "a positive number"
        elif low is not None:
            text = f"{'>=' if lo == '[' else '>'} {low:g}"
        else:
            text = f"{'<=' if hi == ']' else '<'} {high:g}"
        return text if self.also is None else f"{self.also:g} or {text}"


def bounded(default: Any, **bound: Any) -> Any:
    """A dataclass field with its allowed range beside it, e.g. `warmup: float = bounded(0.05, ge=0, lt=1)`."""
    return field(default=default, metadata={"bound": Bound(**bound)})


def share(default: float) -> Any:
    """A field holding a share in [0, 1]."""
    return bounded(default, ge=0, le=1)


def _describe(tp: Any) -> str:
    origin = get_origin(tp)
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in get_args(tp))
    if origin in (Union, types.UnionType):
        return " or ".join("null" if a is type(None) else _describe(a) for a in get_args(tp))
    if origin is list:
        return f"a list of ({_describe(get_args(tp)[0])})"
    if dataclasses.is_dataclass(tp):
        return "a mapping with keys " + ", ".join(f.name for f in dataclasses.fields(tp))
    if origin is dict:
        return "a mapping"
    return {int: "an integer", float: "a number", bool: "true/false", str: "a string"}.get(tp, str(tp))


def _convert(value: Any, tp: Any, key: str, problems: list[str]) -> Any:
    """Check `value` against annotation `tp`; return the converted value (dataclasses built)."""
    origin = get_origin(tp)
    if origin in (Union, types.UnionType):
        args = get_args(tp)
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        if len(inner) == 1:
            return _convert(value, inner[0], key, problems)
        for option in inner:  # e.g. int or "auto": the first reading without a problem
            trial: list[str] = []
            converted = _convert(value, option, key, trial)
            if not trial:
                return converted
        problems.append(f"{key}: expected {_describe(tp)}, got {value!r}")
        return value
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            problems.append(f"{key}: expected {_describe(tp)}, got {value!r}")
            return tp()
        return build(tp, value, key, problems)
    if origin is Literal:
        if value not in get_args(tp):
            problems.append(f"{key}: {value!r} is not allowed; use {_describe(tp)}")
        return value
    if origin is dict:
        if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
            problems.append(f"{key}: expected {_describe(tp)} of names to values, got {value!r}")
            return {}
        inner = get_args(tp)[1] if get_args(tp) else Any
        if inner is Any:
            return dict(value)
        return {k: _convert(v, inner, f"{key}.{k}", problems) for k, v in value.items()}
    if origin is list:
        if not isinstance(value, list):
            problems.append(f"{key}: expected {_describe(tp)}, got {value!r}")
            return []
        return [_convert(v, get_args(tp)[0], f"{key}[{i}]", problems) for i, v in enumerate(value)]
    ok = {
        bool: isinstance(value, bool),
        int: isinstance(value, int) and not isinstance(value, bool),
        float: isinstance(value, (int, float)) and not isinstance(value, bool),
        str: isinstance(value, str),
    }.get(tp, True)
    if not ok:
        problems.append(f"{key}: expected {_describe(tp)}, got {value!r}")
        return value
    if tp is float:
        value = float(value)
        if not math.isfinite(value):
            problems.append(f"{key}: must be finite, got {value!r}")
    return value


def build(cls: type, raw: dict, prefix: str, problems: list[str]) -> Any:
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    for k in raw:
        if k not in names:
            where = f"{prefix}.{k}" if prefix else str(k)
            problems.append(f"{where}: unknown key; allowed keys here: {', '.join(names)}")
    kwargs = {}
    for name in names:
        if name in raw:
            kwargs[name] = _convert(raw[name], hints[name], f"{prefix}.{name}" if prefix else name, problems)
    return cls(**kwargs)


def near(key: str, bad: set[str]) -> bool:
    """Whether `key`, a section above it or a value inside it already has a problem."""
    return any(b == key or b.startswith((key + ".", key + "[")) or key.startswith(b + ".") for b in bad)


def check_bounds(obj: Any, prefix: str, bad: set[str]) -> list[str]:
    """Every bounded number in `obj` and its sections; keys in `bad` (wrong type) are not compared."""
    problems = []
    hints = typing.get_type_hints(type(obj))
    for f in dataclasses.fields(obj):
        key, value = prefix + f.name, getattr(obj, f.name)
        if key in bad:  # its type is wrong (a section: it was not a mapping); that problem says enough
            continue
        if dataclasses.is_dataclass(value):
            problems.extend(check_bounds(value, key + ".", bad))
        if isinstance(value, dict):
            for name, item in value.items():
                if dataclasses.is_dataclass(item) and f"{key}.{name}" not in bad:
                    problems.extend(check_bounds(item, f"{key}.{name}.", bad))
        bound = f.metadata.get("bound")
        if bound is None or not isinstance(value, (int, float)) or isinstance(value, bool) or bound.admits(value):
            continue
        null = " or null" if type(None) in get_args(hints[f.name]) else ""
        why = f" ({bound.why})" if bound.why else ""
        problems.append(f"{key}: must be {bound.allowed(isinstance(value, int))}{null}{why}, got {value}")
    return problems


def problem_keys(problems: list[str]) -> set[str]:
    """The keys the problems name (the text before the first colon)."""
    return {p.split(":", 1)[0] for p in problems}

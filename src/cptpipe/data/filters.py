"""Quality filters: each takes a normalized text and returns (keep, reason)."""

from __future__ import annotations

from collections import Counter


def length_filter(text: str, *, min_chars: int, max_chars: int) -> tuple[bool, str]:
    if len(text) < min_chars:
        return False, "too_short"
    if len(text) > max_chars:
        return False, "too_long"
    return True, ""


def alpha_filter(text: str, *, min_alpha_ratio: float = 0.5) -> tuple[bool, str]:
    """Mostly-symbol documents (tables of numbers, base64, markup debris) carry little knowledge."""
    non_space = [c for c in text if not c.isspace()]
    if not non_space:
        return False, "empty"
    ratio = sum(c.isalpha() for c in non_space) / len(non_space)
    return (True, "") if ratio >= min_alpha_ratio else (False, "low_alpha")


def repetition_filter(text: str, *, max_dup_line_frac: float = 0.3) -> tuple[bool, str]:
    """Gopher-style: too many repeated lines means boilerplate or a scrape loop."""
    lines = [line for line in text.split("\n") if line.strip()]
    if len(lines) < 4:
        return True, ""
    counts = Counter(lines)
    dup = sum(c for c in counts.values() if c > 1)
    return (True, "") if dup / len(lines) <= max_dup_line_frac else (False, "repeated_lines")


def apply_filters(text: str, *, min_chars: int, max_chars: int) -> tuple[bool, str]:
    for keep, reason in (
        length_filter(text, min_chars=min_chars, max_chars=max_chars),
        alpha_filter(text),
        repetition_filter(text),
    ):
        if not keep:
            return keep, reason
    return True, ""

"""The drop alarm: when ingest discards a large share of its input, say so loudly and say why.

A user who drops 40 pages of API reference into data/raw and gets 4 documents back must not
learn it from the trained model. The alarm names the top reasons, example files and the params
key that controls each reason, so the fix is one edit away.
"""

from __future__ import annotations

from collections import Counter, defaultdict

from cptpipe.data.documents import Drop

# What a user edits to keep documents dropped for each reason.
REASON_KEYS = {
    "too_short": "ingest.min_chars",
    "too_long": "ingest.max_chars",
    "too_large": "ingest.max_file_mb",
    "low_alpha": "ingest.filters.min_alpha_ratio",
    "encoded_blob": "ingest.filters.max_blob_frac",
    "gopher_word_len": "ingest.filters.word_len (or ingest.profile: curated)",
    "gopher_symbols": "ingest.filters.max_symbol_ratio (or ingest.profile: curated)",
    "gopher_bullets": "ingest.filters.max_bullet_lines (or ingest.profile: curated)",
    "gopher_ellipsis": "ingest.filters.max_ellipsis_lines (or ingest.profile: curated)",
    "repeated_lines": "ingest.filters.max_dup_line_frac (or ingest.profile: curated)",
    "repeated_ngrams": "ingest.filters.max_top_2gram_frac / max_dup_5gram_frac (or ingest.profile: curated)",
    "exact_duplicate": "ingest.dedup.exact",
    "near_duplicate": "ingest.dedup.near",
    "unknown_extension": "none: convert to .txt/.md/.html/.jsonl/.parquet/.pdf",
    "not_included": "ingest.include",
}
NOT_INPUT = {"readme", "hidden"}  # never meant as documents: not counted as losses
TOP_REASONS = 3
EXAMPLES = 3


def drop_alarm(drops: list[tuple[str, Drop]], docs_kept: int, chars_kept: int, max_share: float) -> dict | None:
    """The alarm for the report (None when the dropped share of documents and of text is <= max_share).

    drops: (file, drop) pairs; chars: the characters of text each dropped document had.
    """
    lost = [(f, d) for f, d in drops if d.reason not in NOT_INPUT]
    if not lost:
        return None
    doc_share = len(lost) / (len(lost) + docs_kept)
    chars_lost = sum(d.chars for _, d in lost)
    byte_share = chars_lost / (chars_lost + chars_kept) if chars_lost + chars_kept else 0.0
    if max(doc_share, byte_share) <= max_share:
        return None
    counts = Counter(d.reason for _, d in lost)
    files: dict[str, list[str]] = defaultdict(list)
    for f, d in sorted(lost, key=lambda x: x[0]):
        if f not in files[d.reason]:
            files[d.reason].append(f)
    top = [
        {
            "reason": r,
            "docs": n,
            "key": REASON_KEYS.get(r, "ingest.strict (fix or remove these files)"),
            "examples": files[r][:EXAMPLES],
        }
        for r, n in counts.most_common(TOP_REASONS)
    ]
    return {
        "dropped_docs_share": round(doc_share, 4),
        "dropped_bytes_share": round(byte_share, 4),
        "max_drop_share": max_share,
        "top_reasons": top,
    }


def format_alarm(alarm: dict) -> str:
    """The alarm as lines for a terminal."""
    lines = [
        f"ingest dropped {alarm['dropped_docs_share']:.0%} of documents and {alarm['dropped_bytes_share']:.0%} "
        f"of text (ingest.max_drop_share: {alarm['max_drop_share']:g}); top reasons:"
    ]
    for t in alarm["top_reasons"]:
        more = ", ..." if t["docs"] > len(t["examples"]) else ""
        lines.append(
            f"  - {t['reason']}: {t['docs']} doc(s), e.g. {', '.join(t['examples'])}{more}; controlled by {t['key']}"
        )
    return "\n".join(lines)

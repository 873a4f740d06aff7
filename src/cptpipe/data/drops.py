"""The drop alarm: when ingest discards a large share of its input, say so loudly and say why.

A user who drops 40 pages of API reference into data/raw and gets 4 documents back must not
learn it from the trained model. The alarm names the top reasons, example files and the params
key that controls each reason, so the fix is one edit away.
"""

from __future__ import annotations

import heapq
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from cptpipe.data.documents import Drop
from cptpipe.data.steps import DOC_STEPS, reason_keys

# What a user edits to keep documents dropped for each reason: the document steps' own (data/steps.py marks
# each step with its reasons), then reading's and dedup's.
REASON_KEYS = reason_keys(DOC_STEPS) | {
    "too_large": "ingest.max_file_mb",
    "exact_duplicate": "ingest.dedup.exact",
    "near_duplicate": "ingest.dedup.near",
    "unknown_extension": "none: convert to .txt/.md/.html/.jsonl/.parquet/.pdf",
    "not_included": "ingest.include",
}
NOT_INPUT = {"readme", "hidden"}  # never meant as documents: not counted as losses
TOP_REASONS = 3
EXAMPLES = 3
REPORT_CAP = 1000  # drop details (and files) listed per reason in reports/ingest.json; all are counted
STRICT_REASONS = {"undecodable", "malformed", "unreadable"}  # inputs ingest.strict refuses


def source_order(d: Drop) -> tuple[str, int]:
    """Sort key of a drop's source: "a.jsonl:10" after "a.jsonl:9"."""
    base, _, num = d.source.rpartition(":")
    return (base, int(num)) if num.isdigit() else (d.source, -1)


@dataclass
class DropLog:
    """Every drop counted, but only what the report shows kept: per reason the REPORT_CAP first drops
    (by source) and files (by name). Each task logs its own drops and the stage merges the logs, so
    the stage's memory does not grow with the number of drops, and any merge order gives the same log."""

    counts: Counter = field(default_factory=Counter)  # reason -> drops
    per_file: dict[str, Counter] = field(default_factory=lambda: defaultdict(Counter))  # file -> reason -> drops
    lost_chars: int = 0  # text of drops that lose input (reasons not in NOT_INPUT)
    details: dict[str, list[Drop]] = field(default_factory=lambda: defaultdict(list))
    files: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))

    @classmethod
    def of(cls, drops: Iterable[tuple[str, Drop]]) -> DropLog:
        log = cls()
        for f, d in drops:
            log.add(f, d)
        return log.trimmed()

    def add(self, file: str, drop: Drop) -> None:
        self.counts[drop.reason] += 1
        self.per_file[file][drop.reason] += 1
        if drop.reason not in NOT_INPUT:
            self.lost_chars += drop.chars
        details, files = self.details[drop.reason], self.files[drop.reason]
        details.append(drop)
        files.add(file)
        if len(details) > 2 * REPORT_CAP or len(files) > 2 * REPORT_CAP:  # amortized: trim every REPORT_CAP adds
            self.trim(drop.reason)

    def trim(self, reason: str) -> None:
        self.details[reason] = heapq.nsmallest(REPORT_CAP, self.details[reason], key=source_order)
        self.files[reason] = set(heapq.nsmallest(REPORT_CAP, self.files[reason]))

    def trimmed(self) -> DropLog:
        for reason in list(self.details):
            self.trim(reason)
        return self

    def merge(self, other: DropLog) -> DropLog:
        self.counts.update(other.counts)
        for f, c in other.per_file.items():
            self.per_file[f].update(c)
        self.lost_chars += other.lost_chars
        for reason in other.details:
            self.details[reason] += other.details[reason]
            self.files[reason] |= other.files[reason]
            self.trim(reason)
        return self

    @property
    def lost(self) -> int:
        return sum(n for r, n in self.counts.items() if r not in NOT_INPUT)

    def count(self, reasons: set[str]) -> int:
        return sum(self.counts[r] for r in reasons)

    def shown(self, reasons: set[str] | None = None) -> list[Drop]:
        """The listed drops (of these reasons), by source."""
        return sorted(
            (d for r, ds in self.details.items() if reasons is None or r in reasons for d in ds), key=source_order
        )


def drop_alarm(log: DropLog, docs_kept: int, chars_kept: int, max_share: float) -> dict | None:
    """The alarm for the report (None when the dropped share of documents and of text is <= max_share)."""
    lost = log.lost
    if not lost:
        return None
    doc_share = lost / (lost + docs_kept)
    byte_share = log.lost_chars / (log.lost_chars + chars_kept) if log.lost_chars + chars_kept else 0.0
    if max(doc_share, byte_share) <= max_share:
        return None
    # ties in count go to the reason named first: the same top list however the tasks' logs merged
    counts = sorted(((r, n) for r, n in log.counts.items() if r not in NOT_INPUT and n), key=lambda x: (-x[1], x[0]))
    top = [
        {
            "reason": r,
            "docs": n,
            "key": REASON_KEYS.get(r, "ingest.strict (fix or remove these files)"),
            "examples": sorted(log.files[r])[:EXAMPLES],
        }
        for r, n in counts[:TOP_REASONS]
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

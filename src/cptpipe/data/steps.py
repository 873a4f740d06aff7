"""The ingest steps: each document goes through a list of small steps (datatrove's pipeline of blocks).

    read (readers.read_piece) -> DOC_STEPS, per document in the scan workers
                              -> dedup, exact then near, over the survivors (data/partitions.py: tasks per partition)

A document step takes a `Doc` and the ingest params and returns (keep, reason): (True, "") keeps
the document, (False, "some_reason") drops it and ends its run. A step may rewrite the document
(normalize does). Steps never count: the pipeline records every
drop with its file, and reports/ingest.json counts them by reason.

Adding a filter is one function and one line:

    @drops(lorem_ipsum="ingest.filters.lorem")  # each reason and the params key that controls it
    def no_lorem(doc: Doc, p: IngestParams) -> Verdict:
        return (False, "lorem_ipsum") if "lorem ipsum" in doc.text.lower() else KEEP

then put `no_lorem` in DOC_STEPS (cheap rules first), as `Quality(no_lorem)` if profile curated
should keep and flag such documents instead of dropping them. The drop alarm (data/drops.py) reads
the step's reasons and keys from DOC_STEPS, so it points at the key to edit.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from cptpipe.data.documents import Doc, Drop, normalize_text
from cptpipe.data.filters import (
    alpha_filter,
    blob_filter,
    gopher_filter,
    length_filter,
    repeated_lines_filter,
    repeated_ngrams_filter,
)
from cptpipe.params import IngestParams

Verdict = tuple[bool, str]
KEEP: Verdict = (True, "")
Step = Callable[[Doc, IngestParams], Verdict]


# ---- document steps ----------------------------------------------------------------------------


def drops(**keys: str) -> Callable[[Step], Step]:
    """Mark a step with its drop reasons, each with the params key a user edits to keep such documents."""

    def mark(step: Step) -> Step:
        step.reasons = keys
        return step

    return mark


def reason_keys(steps: Sequence[Step]) -> dict[str, str]:
    """Drop reason -> the params key that controls it, over the steps' marks."""
    return {reason: key for step in steps for reason, key in getattr(step, "reasons", {}).items()}


def normalize(doc: Doc, p: IngestParams) -> Verdict:
    doc.text = normalize_text(doc.text, p.boilerplate_repeats)
    return KEEP if doc.text else (False, "empty")


@drops(too_short="ingest.min_chars", too_long="ingest.max_chars")
def length(doc: Doc, p: IngestParams) -> Verdict:
    return length_filter(doc.text, min_chars=p.min_chars, max_chars=p.max_chars)


@drops(low_alpha="ingest.filters.min_alpha_ratio")
def alpha(doc: Doc, p: IngestParams) -> Verdict:
    return alpha_filter(doc.text, min_alpha_ratio=p.filters.min_alpha_ratio)


@drops(encoded_blob="ingest.filters.max_blob_frac")
def blob(doc: Doc, p: IngestParams) -> Verdict:
    return blob_filter(doc.text, max_blob_frac=p.filters.max_blob_frac)


@drops(
    gopher_word_len="ingest.filters.word_len",
    gopher_symbols="ingest.filters.max_symbol_ratio",
    gopher_bullets="ingest.filters.max_bullet_lines",
    gopher_ellipsis="ingest.filters.max_ellipsis_lines",
)
def gopher(doc: Doc, p: IngestParams) -> Verdict:
    f = p.filters
    return gopher_filter(
        doc.text,
        word_len=(f.word_len[0], f.word_len[1]),
        max_symbol_ratio=f.max_symbol_ratio,
        max_bullet_lines=f.max_bullet_lines,
        max_ellipsis_lines=f.max_ellipsis_lines,
    )


@drops(repeated_lines="ingest.filters.max_dup_line_frac")
def repeated_lines(doc: Doc, p: IngestParams) -> Verdict:
    return repeated_lines_filter(doc.text, max_dup_line_frac=p.filters.max_dup_line_frac)


@drops(repeated_ngrams="ingest.filters.max_top_2gram_frac / max_dup_5gram_frac")
def repeated_ngrams(doc: Doc, p: IngestParams) -> Verdict:
    f = p.filters
    return repeated_ngrams_filter(
        doc.text, max_top_2gram_frac=f.max_top_2gram_frac, max_dup_5gram_frac=f.max_dup_5gram_frac, hashes=doc.hashes
    )


@dataclass(frozen=True)
class Quality:
    """A Gopher-style rule, tuned on web crawl, that also fires on legitimate manuals and contracts:
    it drops under profile web; under curated the document is kept and the rule named in its flags."""

    rule: Step

    @property
    def reasons(self) -> dict[str, str]:
        return {reason: f"{key} (or ingest.profile: curated)" for reason, key in self.rule.reasons.items()}

    def __call__(self, doc: Doc, p: IngestParams) -> Verdict:
        keep, reason = self.rule(doc, p)
        if keep or p.profile == "web":
            return keep, reason
        doc.flags.append(reason)
        return KEEP


# Hard checks first (every profile drops what they name), cheapest first: a 50 MB text that is too
# long never reaches the n-gram counts.
DOC_STEPS: list[Step] = [
    normalize,
    length,
    alpha,
    blob,
    Quality(gopher),
    Quality(repeated_lines),
    Quality(repeated_ngrams),
]


def run_steps(doc: Doc, steps: Sequence[Step], p: IngestParams) -> Drop | None:
    """Run the steps in order; the first that drops the document names the reason (None: kept)."""
    for step in steps:
        keep, reason = step(doc, p)
        if not keep:
            n = len(doc.text)
            return Drop(doc.source, reason, f"{n} chars" if reason in ("too_short", "too_long") else "", n)
    return None

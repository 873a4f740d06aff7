"""The ingest steps: each document goes through a list of small steps (datatrove's pipeline of blocks).

    read (readers.read_piece) -> DOC_STEPS, per document in the scan workers
                              -> DEDUP_STEPS, over the index of the survivors (near-dedup: per LSH band, on the engine)

A document step takes a `Doc` and the ingest params and returns (keep, reason): (True, "") keeps
the document, (False, "some_reason") drops it and ends its run. A step may rewrite the document
(normalize does). A dedup step sees every surviving document at once and returns the ones it
drops, each with its reason and the copy that stays. Steps never count: the pipeline records every
drop with its file, and reports/ingest.json counts them by reason.

Adding a filter is one function and one line:

    def no_lorem(doc: Doc, p: IngestParams) -> Verdict:
        return (False, "lorem_ipsum") if "lorem ipsum" in doc.text.lower() else KEEP

then put `no_lorem` in DOC_STEPS (cheap rules first), as `Quality(no_lorem)` if profile curated
should keep and flag such documents instead of dropping them, and name the params key that
controls "lorem_ipsum" in drops.REASON_KEYS so the drop alarm can point at it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import numpy as np

from cptpipe.data.dedup import band_pairs, exact_duplicates, jaccard, lsh_bands, resolve_near, shingle_hashes
from cptpipe.data.documents import Doc, Drop, normalize_text
from cptpipe.data.engine import LocalEngine
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


def normalize(doc: Doc, p: IngestParams) -> Verdict:
    doc.text = normalize_text(doc.text, p.boilerplate_repeats)
    return KEEP if doc.text else (False, "empty")


def length(doc: Doc, p: IngestParams) -> Verdict:
    return length_filter(doc.text, min_chars=p.min_chars, max_chars=p.max_chars)


def alpha(doc: Doc, p: IngestParams) -> Verdict:
    return alpha_filter(doc.text, min_alpha_ratio=p.filters.min_alpha_ratio)


def blob(doc: Doc, p: IngestParams) -> Verdict:
    return blob_filter(doc.text, max_blob_frac=p.filters.max_blob_frac)


def gopher(doc: Doc, p: IngestParams) -> Verdict:
    f = p.filters
    return gopher_filter(
        doc.text,
        word_len=(f.word_len[0], f.word_len[1]),
        max_symbol_ratio=f.max_symbol_ratio,
        max_bullet_lines=f.max_bullet_lines,
        max_ellipsis_lines=f.max_ellipsis_lines,
    )


def repeated_lines(doc: Doc, p: IngestParams) -> Verdict:
    return repeated_lines_filter(doc.text, max_dup_line_frac=p.filters.max_dup_line_frac)


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


# ---- dedup steps: over every surviving document ------------------------------------------------


@dataclass
class Index:
    """What the scan kept of each surviving document: enough to deduplicate without the texts in memory."""

    keys: list[tuple[str, str]]  # (doc_id, source): the lowest key of a duplicate group stays
    # MinHash signature rows, indexed sigs[ids, lo:hi] (an array, or the scan's spill files); None without near-dedup
    sigs: Any
    text: Callable[[int], str]  # the text of document i (picklable: the engine's workers call it)
    engine: Any = field(default_factory=lambda: LocalEngine(1))  # where band and confirmation tasks run


DedupStep = Callable[[Index, list[int], IngestParams], dict[int, tuple[str, int]]]
SMALL_INDEX = 20_000  # fewer surviving documents: the local engine deduplicates inline (a pool costs more)
CONFIRM_PAIRS = 50_000  # candidate pairs per confirmation task


def exact_dedup(ix: Index, alive: list[int], p: IngestParams) -> dict[int, tuple[str, int]]:
    """Documents whose normalized text (so doc_id) equals another's."""
    if not p.dedup.exact:
        return {}
    found = exact_duplicates([ix.keys[i] for i in alive])
    return {alive[i]: ("exact_duplicate", alive[k]) for i, k in found.items()}


def near_dedup(ix: Index, alive: list[int], p: IngestParams) -> dict[int, tuple[str, int]]:
    """Documents whose word 5-gram Jaccard with another's is at least ingest.dedup.near: candidates per
    LSH band (one task each), confirmed by exact Jaccard in chunks; only pair lists reach this process."""
    if p.dedup.near is None or not alive or ix.sigs is None:
        return {}
    shared = (ix.sigs, ix.text, np.asarray(alive, dtype=np.int64), p.dedup.near)
    small = len(alive) < SMALL_INDEX
    found = list(ix.engine.map(band_candidates, shared, lsh_bands(p.dedup.near), small))
    candidates = np.unique(np.concatenate(found), axis=0) if found else np.empty((0, 2), dtype=np.int64)
    chunks = [candidates[i : i + CONFIRM_PAIRS] for i in range(0, len(candidates), CONFIRM_PAIRS)]
    confirmed = list(ix.engine.map(confirm_pairs, shared, chunks, small))
    edges = np.concatenate(confirmed) if confirmed else np.empty((0, 2), dtype=np.int64)
    return {i: ("near_duplicate", k) for i, k in resolve_near(ix.keys, edges).items()}


def band_candidates(shared: tuple, band: tuple[int, int]) -> np.ndarray:
    """The candidate pairs of one LSH band (a task): reads only that band's signature columns."""
    sigs, _, ids, _ = shared
    return band_pairs(np.ascontiguousarray(sigs[ids, band[0] : band[1]]), ids)


def confirm_pairs(shared: tuple, pairs: np.ndarray) -> np.ndarray:
    """The pairs whose exact shingle Jaccard reaches the threshold (a task)."""
    _, text, _, threshold = shared

    @lru_cache(maxsize=4096)
    def shingles(i: int) -> np.ndarray:
        return shingle_hashes(text(i))

    keep = [jaccard(shingles(a), shingles(b)) >= threshold for a, b in pairs.tolist()]
    return pairs[np.asarray(keep, dtype=bool)] if len(pairs) else pairs


DEDUP_STEPS: list[DedupStep] = [exact_dedup, near_dedup]


def run_dedup(ix: Index, steps: Sequence[DedupStep], p: IngestParams) -> dict[int, tuple[str, int]]:
    """Index of each dropped document -> (reason, index of the copy kept); each step sees the survivors
    of the steps before it."""
    dropped: dict[int, tuple[str, int]] = {}
    for step in steps:
        dropped.update(step(ix, [i for i in range(len(ix.keys)) if i not in dropped], p))
    return dropped

"""Quality filters: each takes a normalized text and returns (keep, reason); reason is "" when kept.
cptpipe.data.steps runs them, in order, as steps of the ingest pipeline.

Two kinds (issue 14): *hard* checks drop what no owner wants (empty, too short or long, mostly
symbols, encoded blobs); *quality* checks are the Gopher rules, tuned on web crawl, which also fire
on legitimate manuals, API references and contracts (table rules, repeated "Parameters" headings,
numbered clauses). `ingest.profile` decides: `curated` keeps such documents and flags them, `web`
drops them as before.

Thresholds follow the Gopher rules (Rae et al. 2021, appendix A) where they exist; they are
`ingest.filters.*` in params.yaml. Word statistics use the crc32 word hashes of
`documents.word_hashes`, so the n-gram rules cost a few numpy passes, not Python loops.
"""

from __future__ import annotations

import re
from collections import Counter

import numpy as np

from cptpipe.data.documents import ngram_hashes, word_hashes

_NON_SPACED = re.compile(r"[\u2e80-\u9fff\uf900-\ufaff\u0e00-\u0e7f\u1000-\u109f]")  # CJK, Thai, Myanmar
_ASCII_LETTERS = bytes(range(65, 91)) + bytes(range(97, 123))
_ASCII_SPACE = b" \t\n\r\x0b\x0c\x1c\x1d\x1e\x1f"  # what str.isspace() accepts below 128
_NON_ASCII = re.compile(r"[^\x00-\x7f]+")
_BULLETS = ("-", "*", "•", "·", "‣", "◦", "–")


def length_filter(text: str, *, min_chars: int, max_chars: int) -> tuple[bool, str]:
    if len(text) < min_chars:
        return False, "too_short"
    if len(text) > max_chars:
        return False, "too_long"
    return True, ""


def alpha_filter(text: str, *, min_alpha_ratio: float = 0.5) -> tuple[bool, str]:
    """Mostly-symbol documents (tables of numbers, base64, markup debris) carry little knowledge."""
    # ASCII is counted on bytes at memory speed; only the non-ASCII characters are looked at one by one
    data = text.encode("ascii", "ignore")
    ascii_space = len(data) - len(data.translate(None, _ASCII_SPACE))
    ascii_letters = len(data) - len(data.translate(None, _ASCII_LETTERS))
    others = "" if len(data) == len(text) else "".join(_NON_ASCII.findall(text))
    non_space = len(text) - ascii_space - sum(map(str.isspace, others))
    letters = ascii_letters + sum(map(str.isalpha, others))
    if non_space <= 0:
        return False, "empty"
    ratio = letters / non_space
    return (True, "") if ratio >= min_alpha_ratio else (False, "low_alpha")


def blob_filter(text: str, *, max_blob_frac: float = 0.5, min_token: int = 40) -> tuple[bool, str]:
    """Base64, hex dumps, minified code: most characters sit in space-less tokens of min_token+ chars.

    Letters dominate base64, so alpha_filter does not see it; prose words are never this long.
    """
    tokens = text.split()
    total = sum(map(len, tokens))
    if not total:
        return False, "empty"
    blob = sum(len(t) for t in tokens if len(t) >= min_token)
    return (True, "") if blob / total <= max_blob_frac else (False, "encoded_blob")


def repeated_lines_filter(text: str, *, max_dup_line_frac: float = 0.3) -> tuple[bool, str]:
    """Gopher: too many repeated lines means boilerplate or a scrape loop."""
    lines = [line for line in text.split("\n") if line.strip()]
    if len(lines) < 4:
        return True, ""
    dup = sum(c for c in Counter(lines).values() if c > 1)
    return (True, "") if dup / len(lines) <= max_dup_line_frac else (False, "repeated_lines")


def repeated_ngrams_filter(
    text: str, *, max_top_2gram_frac: float = 0.2, max_dup_5gram_frac: float = 0.15, hashes: np.ndarray | None = None
) -> tuple[bool, str]:
    """Gopher: the most frequent word 2-gram, or words inside repeated 5-grams, cover too much text.

    Shares are of words (Gopher measures characters; words are a close, cheaper proxy).
    """
    h = word_hashes(text) if hashes is None else hashes
    n = len(h)
    if n < 20:  # too few words for a share to mean anything; length_filter handles short texts
        return True, ""
    _, counts = np.unique(ngram_hashes(h, 2), return_counts=True)
    if counts.max() > 1 and 2 * counts.max() / n > max_top_2gram_frac:
        return False, "repeated_ngrams"
    # Like Gopher, only the 2nd and later occurrences of a 5-gram count as repetition.
    grams = ngram_hashes(h, 5)
    _, first = np.unique(grams, return_index=True)
    repeats = np.ones(len(grams), dtype=bool)
    repeats[first] = False
    starts = np.flatnonzero(repeats)
    if len(starts) == 0:
        return True, ""
    cover = np.zeros(n + 1, dtype=np.int32)  # +1 at each repeated 5-gram start, -1 five words later
    np.add.at(cover, starts, 1)
    np.add.at(cover, starts + 5, -1)
    covered = np.count_nonzero(np.cumsum(cover[:n]))
    return (True, "") if covered / n <= max_dup_5gram_frac else (False, "repeated_ngrams")


def gopher_filter(
    text: str,
    *,
    word_len: tuple[float, float] = (2.0, 15.0),
    max_symbol_ratio: float = 0.1,
    max_bullet_lines: float = 0.9,
    max_ellipsis_lines: float = 0.3,
) -> tuple[bool, str]:
    """Gopher's word-length, symbol, bullet and ellipsis rules; names the rule that failed."""
    words = text.split()
    if not words:
        return False, "empty"
    mean = sum(map(len, words)) / len(words)
    # Languages written without spaces have one "word" per sentence: the rule does not apply to them
    if not word_len[0] <= mean <= word_len[1] and (text.isascii() or len(_NON_SPACED.findall(text)) < 0.3 * len(text)):
        return False, "gopher_word_len"
    symbols = text.count("#") + text.count("...") + text.count("…")
    if symbols / len(words) > max_symbol_ratio:
        return False, "gopher_symbols"
    lines = [s for s in text.split("\n") if s]
    if len(lines) >= 4:
        if sum(s.startswith(_BULLETS) for s in lines) / len(lines) > max_bullet_lines:
            return False, "gopher_bullets"
        if sum(s.endswith(("...", "…")) for s in lines) / len(lines) > max_ellipsis_lines:
            return False, "gopher_ellipsis"
    return True, ""

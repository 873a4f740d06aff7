"""Each quality filter and the normalization on tiny texts (the steps that run them: test_steps.py)."""

import random

from cptpipe.data.documents import normalize_text, strip_boilerplate
from cptpipe.data.filters import (
    alpha_filter,
    blob_filter,
    gopher_filter,
    length_filter,
    repeated_lines_filter,
    repeated_ngrams_filter,
)
from tests.data.ingest_corpus import prose

GOOD = prose(random.Random(1), 200)


def test_length_filter():
    assert length_filter("abc", min_chars=5, max_chars=10) == (False, "too_short")
    assert length_filter("a" * 11, min_chars=5, max_chars=10) == (False, "too_long")
    assert length_filter("a" * 7, min_chars=5, max_chars=10) == (True, "")


def test_alpha_filter():
    assert alpha_filter(GOOD) == (True, "")
    assert alpha_filter("12 345 678 90.1 | 22 | 33\n" * 20) == (False, "low_alpha")
    assert alpha_filter("  \n ") == (False, "empty")
    assert alpha_filter("東京は日本の首都である。" * 10) == (True, "")  # CJK letters are letters


def test_repeated_lines_filter():
    assert repeated_lines_filter(GOOD) == (True, "")
    looped = "\n".join(
        [
            "Click here to subscribe",
            "Real line one",
            "Click here to subscribe",
            "Click here to subscribe",
            "Another real line",
        ]
    )
    assert repeated_lines_filter(looped) == (False, "repeated_lines")
    assert repeated_lines_filter("a\na\nb") == (True, "")  # under 4 lines: no judgement


def test_repeated_ngrams_filter_top_2gram_and_duplicate_5grams():
    assert repeated_ngrams_filter(GOOD) == (True, "")
    spam = " ".join(["buy now"] * 30 + GOOD.split()[:40])
    assert repeated_ngrams_filter(spam) == (False, "repeated_ngrams")
    half_repeated = " ".join(GOOD.split()[:60] * 2)  # a paragraph pasted twice
    assert repeated_ngrams_filter(half_repeated) == (False, "repeated_ngrams")
    assert repeated_ngrams_filter(half_repeated, max_dup_5gram_frac=0.6, max_top_2gram_frac=1.0) == (True, "")


def test_gopher_filter_rules():
    assert gopher_filter(GOOD) == (True, "")
    assert gopher_filter("a b c d e f g " * 20) == (False, "gopher_word_len")
    assert gopher_filter("x" * 40 + " " + "y" * 40) == (False, "gopher_word_len")
    assert gopher_filter("東京は日本の首都である。人口は多い。" * 20) == (True, "")  # no spaces: rule skipped
    assert gopher_filter("#tag #news #more words here " * 10) == (False, "gopher_symbols")
    bullets = "\n".join(f"- item number {i} of the list" for i in range(20))
    assert gopher_filter(bullets) == (False, "gopher_bullets")
    teasers = "\n".join(
        f"Read the rest of story {i} about the old harbour town and the people who live there..." for i in range(10)
    )
    assert gopher_filter(teasers) == (False, "gopher_ellipsis")


def test_normalize_nfc_controls_whitespace_and_page_breaks():
    assert normalize_text("Cafe\u0301\x07  bar\r\n\n\n\nnext ") == "Caf\u00e9 bar\n\nnext"
    assert normalize_text("a\u00a0\u00a0b\tc\u200b d\ufeff") == "a b c d"
    assert normalize_text("page one\x0cpage two") == "page one\npage two"


def test_boilerplate_lines_kept_once():
    pages = [f"ACME Manual v2\nPage {i} of 9\n{prose(random.Random(i), 30)}" for i in range(1, 5)]
    text = strip_boilerplate("\n".join(pages), repeats=3)
    assert text.count("ACME Manual v2") == 1 and text.count("of 9") == 1
    assert all(p.split("\n")[2] in text for p in pages)
    code = "}\n}\n}\n}"  # lines without letters are structure, not boilerplate
    assert strip_boilerplate(code, repeats=3) == code
    assert normalize_text("\n".join(pages), boilerplate_repeats=0).count("ACME Manual v2") == 4


def test_blob_filter_drops_encoded_text_that_alpha_filter_lets_through():
    import base64

    blob = base64.b64encode(random.Random(3).randbytes(3000)).decode()
    blob = "\n".join(blob[i : i + 76] for i in range(0, len(blob), 76))  # MIME line width: 76-char tokens
    assert alpha_filter(blob) == (True, "")  # base64 is mostly letters
    assert blob_filter(blob) == (False, "encoded_blob")
    assert blob_filter(GOOD) == (True, "")
    assert blob_filter(blob, max_blob_frac=1.0) == (True, "")

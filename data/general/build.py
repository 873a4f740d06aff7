"""Build the held-out general-English set (data/general/heldout.jsonl) from Debian packages.

Purpose: measure forgetting. The texts are of a kind pretrained language models have seen a
great deal of (so their perplexity starts low and rises if continued pre-training makes the model
forget), and no training phase of this pipeline reads them (the replay set, data/replay/, is built
from other works). Every row is ``{"id": "<source>/<n>", "source": ..., "text": ...}`` with a
passage of 150-300 words.

Provenance: two works shipped by Debian 12 ("bookworm") packages, pinned below by exact version:

* ``bible-kjv-text`` 4.38 -- the King James Version of the Bible (1611; "Textfile 930105" of
  Chip Chapin's Bible Retrieval System) in ``usr/lib/bible.data``. The text is public domain
  (debian/copyright: "The copyright for the King James Version text of the Bible is expired").
  Source ``kjv``: passages of consecutive verses of one chapter, book/chapter:verse references
  dropped.
* ``python3.11-doc`` 3.11.2-6+deb12u9 -- the Python 3.11.2 documentation; only the tutorial,
  ``usr/share/doc/python3.11/html/tutorial/*.html``. Copyright (c) 2001-2023 Python Software
  Foundation; All Rights Reserved. Licensed under the PSF License Agreement for Python 3.11.2,
  which permits redistribution of derivative works with the license and this notice retained
  (see data/general/LICENSE.md). Source ``python_tutorial``: prose paragraphs only.

Only the texts are used; the Debian packaging and the ``bible`` program (GPL-2+) are not.

``bible.data`` is Chapin's "EC02" windowed format: an 84-byte header (magic ``EC``, version
``02``, description), the window size and count and a table of window offsets (big-endian 32-bit
integers), then the text compressed in independent windows with the LZW of Unix ``compress``
(16-bit codes, block mode). It is decoded here with the standard library alone (a port of the
package's compresslib.c ``cmp_decompress``) into one line per verse, ``Ge1:1 In the beginning...``.

Cleaning: whitespace collapsed, HTML entities decoded, verse references removed. From the
tutorial only ``<p>`` text inside the page body is kept: code blocks, tables, headings,
navigation, notes' titles, version notes and footnotes are dropped, as are footnote markers.
A paragraph must read as prose (>= 10 words, ends like a sentence, mostly letters, no URLs) and
have little inline code: each ``<code>`` span a single short token such as ``range()`` or
``sys.path``, kept as a word of the sentence, and such spans at most 10% of the paragraph's words;
otherwise the whole paragraph is dropped (the tutorial's prose mentions code often: without any
inline code it has only ~9k words of paragraphs, too few for 60 passages).

Passages: the verses of each chapter, and the kept paragraphs of each tutorial page, are packed
in order into passages of 150-300 words (closed at 175 words or more). From each source's list of
passages (pages and books in reading order), 60 evenly spread over the whole work are kept.

Rerun (needs Debian 12 apt sources, or the two .deb files already downloaded):

    python data/general/build.py                   # apt-get download into a temp dir
    python data/general/build.py --debs DIR        # use DIR/*.deb

The output is deterministic: inputs are read in a fixed order (verses in file order, tutorial
pages in the order of its table of contents), no randomness.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import struct
import subprocess
import sys
import tempfile
from html.parser import HTMLParser
from pathlib import Path

PACKAGES = {
    "bible-kjv-text": "4.38",
    "python3.11-doc": "3.11.2-6+deb12u9",
}
HERE = Path(__file__).resolve().parent
KJV_DATA = "usr/lib/bible.data"
TUTORIAL_DIR = "usr/share/doc/python3.11/html/tutorial"
MIN_WORDS = 150  # shortest passage
TARGET_WORDS = 175  # a passage is closed once it reaches this many words
MAX_WORDS = 300  # longest passage
PASSAGES_PER_SOURCE = 60
MIN_PARA_WORDS = 10
MAX_CODE_SHARE = 0.10  # inline-code spans / paragraph words
MAX_CODE_TOKEN_CHARS = 24
MAX_BYTES = 250_000


# ---------------------------------------------------------------- fetching / extraction
def fetch_debs(debs_dir: Path | None, work: Path) -> Path:
    """Extract the pinned .debs into `work/root`; download them with apt-get if no dir given."""
    if debs_dir is None:
        debs_dir = work / "debs"
        debs_dir.mkdir()
        specs = [f"{name}={version}" for name, version in PACKAGES.items()]
        subprocess.run(["apt-get", "download", *specs], cwd=debs_dir, check=True)
    root = work / "root"
    root.mkdir()
    for name, version in PACKAGES.items():
        # Debian escapes ':' in file names; none of the pinned versions has an epoch.
        deb = debs_dir / f"{name}_{version}_all.deb"
        if not deb.exists():
            sys.exit(f"missing {deb} (need {name} version {version} exactly)")
        subprocess.run(["dpkg-deb", "-x", str(deb), str(root)], check=True)
    return root


def clean_text(text: str) -> str:
    text = text.replace("\u00a0", " ")
    return re.sub(r"\s+", " ", text).strip()


def n_words(text: str) -> int:
    return len(text.split())


def pack(units: list[str], sep: str) -> list[str]:
    """Join consecutive units (verses, paragraphs) into passages of MIN..MAX_WORDS words.

    A passage is closed once it reaches TARGET_WORDS, or before a unit that would push it past
    MAX_WORDS. A short tail joins the previous passage when that fits, else it is dropped, as is
    a unit longer than MAX_WORDS on its own.
    """
    out: list[list[str]] = []
    cur: list[str] = []
    size = 0
    for unit in units:
        w = n_words(unit)
        if cur and size + w > MAX_WORDS:
            out.append(cur)
            cur, size = [], 0
        if w > MAX_WORDS:
            continue
        cur.append(unit)
        size += w
        if size >= TARGET_WORDS:
            out.append(cur)
            cur, size = [], 0
    if cur:
        if out and sum(map(n_words, out[-1])) + size <= MAX_WORDS:
            out[-1] = out[-1] + cur
        else:
            out.append(cur)
    passages = [sep.join(p) for p in out]
    return [p for p in passages if MIN_WORDS <= n_words(p) <= MAX_WORDS]


def spread(items: list[str], count: int) -> list[str]:
    """`count` items evenly spaced over the list (the middle of each of `count` equal strides)."""
    if len(items) < count:
        sys.exit(f"only {len(items)} passages, need {count}")
    return [items[(2 * i + 1) * len(items) // (2 * count)] for i in range(count)]


# ---------------------------------------------------------------- KJV ("EC02" + LZW)
def lzw_decompress(data: bytes, maxbits: int) -> bytes:
    """Unix `compress` LZW (block mode), as compresslib.c's cmp_decompress / getcode."""
    first, clear_code = 257, 256
    maxmaxcode = 1 << maxbits
    prefix = [0] * maxmaxcode
    suffix = list(range(256)) + [0] * (maxmaxcode - 256)
    n_bits, maxcode, free_ent = 9, (1 << 9) - 1, first
    clear = False
    pos, group, offset, size = 0, 0, 0, 0

    def getcode() -> int:
        # Codes come in groups of n_bits bytes; a change of code width (or a CLEAR) discards
        # the rest of the current group, exactly as compress does.
        nonlocal n_bits, maxcode, clear, pos, group, offset, size
        if clear or offset >= size or free_ent > maxcode:
            if free_ent > maxcode:
                n_bits += 1
                maxcode = maxmaxcode if n_bits == maxbits else (1 << n_bits) - 1
            if clear:
                n_bits, maxcode, clear = 9, (1 << 9) - 1, False
            nbytes = min(n_bits, len(data) - pos)
            if nbytes <= 0:
                return -1
            group = int.from_bytes(data[pos : pos + nbytes], "little")
            pos += nbytes
            offset = 0
            size = (nbytes << 3) - (n_bits - 1)
        code = (group >> offset) & ((1 << n_bits) - 1)
        offset += n_bits
        return code

    out = bytearray()
    oldcode = finchar = getcode()
    if oldcode < 0:
        return bytes(out)
    out.append(finchar)
    while (code := getcode()) >= 0:
        if code == clear_code:
            clear, free_ent = True, first - 1
            if (code := getcode()) < 0:
                break
        incode = code
        stack = []
        if code >= free_ent:  # the KwKwK case
            stack.append(finchar)
            code = oldcode
        while code >= 256:
            stack.append(suffix[code])
            code = prefix[code]
        finchar = suffix[code]
        stack.append(finchar)
        out.extend(reversed(stack))
        if free_ent < maxmaxcode:
            prefix[free_ent], suffix[free_ent] = oldcode, finchar
            free_ent += 1
        oldcode = incode
    return bytes(out)


def kjv_text(path: Path) -> str:
    raw = path.read_bytes()
    if raw[:4] != b"EC02":
        sys.exit(f"{path}: not an EC02 compressed data file")
    wsize, wnum = struct.unpack(">II", raw[84:92])
    table = struct.unpack(f">{wnum + 1}I", raw[92 : 92 + 4 * (wnum + 1)])
    # The compressed stream keeps compress's 3-byte header (1F 9D, flags|maxbits) before window 0.
    header = raw[table[0] - 3 : table[0]]
    if header[:2] != b"\x1f\x9d" or not header[2] & 0x80:
        sys.exit(f"{path}: unexpected compress header {header.hex()}")
    maxbits = header[2] & 0x1F
    parts = []
    for w in range(wnum):
        part = lzw_decompress(raw[table[w] : table[w + 1]], maxbits)
        if len(part) != wsize and w != wnum - 1:
            sys.exit(f"{path}: window {w} decompressed to {len(part)} bytes, not {wsize}")
        parts.append(part)
    return b"".join(parts).decode("ascii")


VERSE = re.compile(r"([1-3]?[A-Z][A-Za-z]*)(\d+):(\d+) (.+)")


def kjv_passages(root: Path) -> list[str]:
    """Passages of consecutive verses, never crossing a chapter; references dropped."""
    lines = kjv_text(root / KJV_DATA).split("\n")
    assert lines[0].startswith("Holy Bible"), lines[0]  # title line, not a verse
    chapters: dict[tuple[str, str], list[str]] = {}  # insertion order = canonical order
    for line in lines[1:]:
        if not line:
            continue
        m = VERSE.fullmatch(line)
        if not m:
            sys.exit(f"unexpected KJV line: {line[:80]!r}")
        chapters.setdefault((m.group(1), m.group(2)), []).append(clean_text(m.group(4)))
    n_verses = sum(map(len, chapters.values()))
    assert n_verses == 31102, n_verses
    passages = []
    for verses in chapters.values():
        passages.extend(pack(verses, " "))
    return passages


# ---------------------------------------------------------------- Python tutorial HTML
VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "wbr"}
SKIP_TAGS = {"pre", "table", "script", "style", "nav", "footer", "head", "aside", "h1", "h2", "h3"}
SKIP_CLASSES = {
    "admonition-title",  # the "Note" / "See also" caption
    "deprecated",
    "footnote",
    "footnote-list",
    "footnote-reference",  # the [1] marker inside a paragraph
    "headerlink",
    "related",  # navigation bars
    "rubric",  # "Footnotes"
    "sphinxsidebar",
    "toctree-wrapper",
    "versionadded",
    "versionchanged",
}


class _TutorialParser(HTMLParser):
    """Collect (text, [inline code spans]) of every <p> in the page body (role="main")."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.paras: list[tuple[str, list[str]]] = []
        self._stack: list[tuple[str, bool, bool]] = []  # (tag, skip subtree, is main body)
        self._buf: list[str] | None = None
        self._spans: list[str] = []
        self._code: list[str] | None = None

    def _skipping(self) -> bool:
        return any(skip for _, skip, _ in self._stack)

    def _in_main(self) -> bool:
        return any(main for _, _, main in self._stack)

    def handle_starttag(self, tag, attrs):
        if tag in VOID:
            return
        a = dict(attrs)
        classes = set((a.get("class") or "").split())
        skip = tag in SKIP_TAGS or bool(classes & SKIP_CLASSES) or any(c.startswith("highlight") for c in classes)
        self._stack.append((tag, skip, a.get("role") == "main"))
        if tag == "p" and self._in_main() and not self._skipping():
            self._buf, self._spans = [], []
        elif tag == "code" and self._buf is not None and self._code is None:
            self._code = []

    def handle_endtag(self, tag):
        if tag in VOID:
            return
        if tag == "code" and self._code is not None:
            self._spans.append(clean_text("".join(self._code)))
            self._code = None
        elif tag == "p" and self._buf is not None:
            self.paras.append((clean_text("".join(self._buf)), self._spans))
            self._buf = None
        for i in range(len(self._stack) - 1, -1, -1):  # pop to the matching open tag
            if self._stack[i][0] == tag:
                del self._stack[i:]
                break

    def handle_data(self, data):
        if self._buf is not None and not self._skipping():
            self._buf.append(data)
            if self._code is not None:
                self._code.append(data)


def is_prose(para: str, spans: list[str]) -> bool:
    """A sentence-like paragraph, mostly letters, with at most a little inline code."""
    words = n_words(para)
    if words < MIN_PARA_WORDS or para[-1] not in ".!?\"'”)":
        return False
    letters = sum(c.isalpha() or c == " " for c in para)
    if letters / len(para) < 0.85 or re.search(r"https?://|www\.", para):
        return False
    for span in spans:
        if len(span) > MAX_CODE_TOKEN_CHARS or " " in span:  # a whole expression or statement
            return False
    return len(spans) <= MAX_CODE_SHARE * words


def tutorial_pages(tutorial: Path) -> list[Path]:
    """index.html, then the chapters in the order of its table of contents (any others sorted)."""
    index = tutorial / "index.html"
    toc = re.findall(r'<li class="toctree-l1"><a class="reference internal" href="(\w+\.html)"', index.read_text())
    if len(toc) < 10:
        sys.exit(f"{index}: table of contents not found")
    rest = sorted(p.name for p in tutorial.glob("*.html") if p.name not in {"index.html", *toc})
    return [tutorial / name for name in ["index.html", *dict.fromkeys(toc), *rest]]


def tutorial_passages(root: Path) -> list[str]:
    """Prose paragraphs of each tutorial page, packed in page order; pages in reading order."""
    pages = tutorial_pages(root / TUTORIAL_DIR)
    passages = []
    for path in pages:
        parser = _TutorialParser()
        parser.feed(path.read_text(encoding="utf-8"))
        parser.close()
        paras = [text for text, spans in parser.paras if is_prose(text, spans)]
        passages.extend(pack(paras, "\n\n"))
    return passages


# ---------------------------------------------------------------- checks / write
def check_clean(row: dict) -> None:
    text = row["text"]
    assert not re.search(r"&#?\w+;|<[a-z/]|¶|[ \t]{2}", text), (row["id"], text[:200])
    if row["source"] == "kjv":  # no verse references or numbers at all
        assert not re.search(r"\d", text), (row["id"], text[:200])
    assert MIN_WORDS <= n_words(text) <= MAX_WORDS, row["id"]


def write_jsonl(path: Path, rows: list[dict]) -> int:
    tmp = path.with_suffix(".tmp")
    with tmp.open("w", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
    os.replace(tmp, path)
    return path.stat().st_size


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--debs", type=Path, help="dir holding the pinned .deb files")
    ap.add_argument("--out", type=Path, default=HERE)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = fetch_debs(args.debs, Path(tmp))
        sources = {"kjv": kjv_passages(root), "python_tutorial": tutorial_passages(root)}
    rows = []
    for source, passages in sources.items():
        for n, text in enumerate(spread(passages, PASSAGES_PER_SOURCE)):
            rows.append({"id": f"{source}/{n}", "source": source, "text": text})
    for r in rows:
        check_clean(r)
    texts = [r["text"] for r in rows]
    assert len(texts) == len(set(texts)), "duplicate passages"
    args.out.mkdir(parents=True, exist_ok=True)
    size = write_jsonl(args.out / "heldout.jsonl", rows)
    if size > MAX_BYTES:
        sys.exit(f"held-out set is {size} bytes, over the {MAX_BYTES} budget")
    summary = {
        s: f"{PASSAGES_PER_SOURCE} of {len(p)} passages, "
        f"{sum(n_words(r['text']) for r in rows if r['source'] == s)} words"
        for s, p in sources.items()
    }
    print(f"general held-out: {len(rows)} rows, {size / 1e3:.1f} kB; {summary}")


if __name__ == "__main__":
    main()

"""Build the general-English replay set (data/replay/{train,heldout}.jsonl) from Debian packages.

Provenance: every text comes from one of three public-domain works shipped by Debian 12
("bookworm") packages, pinned below by exact version:

* ``sqlite3-doc`` 3.40.1-2+deb12u2 -- the SQLite documentation (HTML under
  ``usr/share/doc/sqlite3/*.html``). Upstream https://www.sqlite.org/ ; public domain
  (debian/copyright: "Files: * ... License: public-domain").
* ``dict-jargon`` 4.4.7-3.1 -- The Jargon File 4.4.7 (29 Dec 2003) in dictd format
  (``usr/share/dictd/jargon.{index,dict.dz}``). Upstream http://catb.org/jargon/ ; public domain.
* ``dict-devil`` 1.0-13.1 -- Ambrose Bierce, *The Devil's Dictionary* (1911) in dictd format
  (``usr/share/dictd/devil.{index,dict.dz}``). Public domain (copyright expired).

Only the texts are used; the Debian packaging files (GPL-2+) are not.

Rerun (needs Debian 12 apt sources, or the three .deb files already downloaded):

    python data/replay/build.py                   # apt-get download into a temp dir
    python data/replay/build.py --debs DIR        # use DIR/*.deb

The output is deterministic: inputs are read in sorted order, no randomness, and the
train/held-out split is a hash of each document id.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import html
import json
import os
import re
import subprocess
import sys
import tempfile
from html.parser import HTMLParser
from pathlib import Path

PACKAGES = {
    "sqlite3-doc": "3.40.1-2+deb12u2",
    "dict-jargon": "4.4.7-3.1",
    "dict-devil": "1.0-13.1",
}
HERE = Path(__file__).resolve().parent
MIN_DOC_CHARS = 500  # shorter documents carry too little context for replay / perplexity
MAX_DOC_CHARS = 3000  # ~700 tokens: fits the tiny model's context with room to spare
MIN_PARA_CHARS = 60  # drops captions, table cells and one-line fragments
HELDOUT_PERCENT = 5
MAX_TOTAL_BYTES = 5_000_000

# SQLite pages that are indexes, legal agreements, change logs or machine-generated lists
# rather than prose.
SQLITE_SKIP = {
    "capi3ref",
    "changes",
    "chronology",
    "consortium_agreement-20071201",
    "copyright-release",
    "doc_backlink_crossref",
    "doc_keyword_crossref",
    "doc_pagelink_crossref",
    "doc_target_crossref",
    "doclist",
    "docs",
    "keyword_index",
    "lang_keywords",
    "news",
    "oldnews",
    "requirements",
    "sitemap",
    "syntaxdiagrams",
    "syntax",
    "opcode",
}


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


# ---------------------------------------------------------------- cleaning
def clean_text(text: str) -> str:
    text = html.unescape(text)
    text = text.replace("\u00a0", " ")
    return re.sub(r"\s+", " ", text).strip()


def is_prose(para: str) -> bool:
    """Heuristic: a sentence-like paragraph, mostly letters, not code or a list of names."""
    if len(para) < MIN_PARA_CHARS:
        return False
    if para[-1] not in ".!?\"'”)":
        return False
    letters = sum(c.isalpha() or c == " " for c in para)
    if letters / len(para) < 0.85:
        return False
    if re.search(r"https?://|www\.|[{};=<>]{1}.*[{};=<>]", para):
        return False
    return len(para.split()) >= 10


def dedup(paras: list[str], seen: set[str]) -> list[str]:
    """Drop paragraphs already used anywhere (some SQLite pages are copies of each other)."""
    out = []
    for p in paras:
        key = p.casefold()
        if key not in seen:
            seen.add(key)
            out.append(p)
    return out


def pack(paras: list[str]) -> list[str]:
    """Greedily join paragraphs into documents of MIN..MAX_DOC_CHARS characters."""
    docs: list[str] = []
    cur: list[str] = []
    size = 0
    for p in paras:
        if len(p) > MAX_DOC_CHARS:
            continue  # rare giant paragraphs are tables flattened into one line
        if cur and size + 2 + len(p) > MAX_DOC_CHARS:
            docs.append("\n\n".join(cur))
            cur, size = [], 0
        cur.append(p)
        size += len(p) + (2 if size else 0)
    if cur:
        docs.append("\n\n".join(cur))
    # a short tail joins the previous document when it fits, else it is dropped
    if len(docs) >= 2 and len(docs[-1]) < MIN_DOC_CHARS:
        tail = docs.pop()
        if len(docs[-1]) + 2 + len(tail) <= MAX_DOC_CHARS:
            docs[-1] += "\n\n" + tail
    return [d for d in docs if MIN_DOC_CHARS <= len(d) <= MAX_DOC_CHARS]


# ---------------------------------------------------------------- SQLite HTML
class _ParaParser(HTMLParser):
    """Collect the text of <p> elements, skipping anything inside <pre>, <table>, <script>."""

    SKIP = {"pre", "table", "script", "style", "code", "blockquote"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.paras: list[str] = []
        self._buf: list[str] | None = None
        self._skip = 0
        self._code_in_para = False

    def handle_starttag(self, tag, attrs):
        if tag in self.SKIP:
            if self._buf is not None and tag == "code":
                self._code_in_para = True  # inline code: keep the words, mark the paragraph
                return
            self._skip += 1
        elif tag == "p":
            self._flush()
            self._buf = []
            self._code_in_para = False
        elif tag in {"h1", "h2", "h3", "h4", "li", "ul", "ol", "div", "dl", "dt", "dd"}:
            self._flush()

    def handle_endtag(self, tag):
        if tag in self.SKIP:
            if tag == "code" and self._buf is not None and self._code_in_para:
                return
            self._skip = max(0, self._skip - 1)
        elif tag == "p":
            self._flush()

    def handle_data(self, data):
        if self._buf is not None and not self._skip:
            self._buf.append(data)

    def _flush(self):
        if self._buf is not None:
            self.paras.append(clean_text("".join(self._buf)))
        self._buf = None

    def close(self):
        super().close()
        self._flush()


def sqlite_docs(root: Path, seen: set[str]) -> list[dict]:
    out = []
    for path in sorted((root / "usr/share/doc/sqlite3").glob("*.html")):
        if path.stem in SQLITE_SKIP:
            continue
        parser = _ParaParser()
        parser.feed(path.read_text(encoding="utf-8", errors="replace"))
        parser.close()
        paras = dedup([p for p in parser.paras if is_prose(p)], seen)
        for i, text in enumerate(pack(paras)):
            out.append({"id": f"sqlite/{path.stem}/{i}", "text": text, "source": "sqlite3-doc"})
    return out


# ---------------------------------------------------------------- dictd entries
_B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"


def _b64num(s: str) -> int:
    n = 0
    for ch in s:
        n = n * 64 + _B64.index(ch)
    return n


def dict_entries(index: Path, data: Path) -> list[tuple[str, str]]:
    """(headword, raw entry text) in file order, skipping dictfmt's 00-database-* headers."""
    raw = gzip.decompress(data.read_bytes())  # dictzip is gzip-compatible
    spans = set()
    for line in index.read_text(encoding="utf-8").splitlines():
        word, off, length = line.split("\t")[:3]
        if not word.startswith("00-database") and not word.startswith("00database"):
            spans.add((_b64num(off), _b64num(length), word))
    seen = set()
    entries = []
    for off, length, word in sorted(spans):
        if (off, length) in seen:  # several headwords can point at one entry
            continue
        seen.add((off, length))
        entries.append((word, raw[off : off + length].decode("utf-8")))
    return entries


def _blocks(text: str) -> list[str]:
    return [b for b in re.split(r"\n\s*\n", text) if b.strip()]


def jargon_paras(entry: str) -> list[str]:
    """Body paragraphs of one Jargon File entry, cross-reference braces removed."""
    lines = entry.split("\n")
    head = lines[0].strip()
    paras = []
    for block in _blocks("\n".join(lines[1:])):
        blines = block.split("\n")
        indents = [len(line) - len(line.lstrip()) for line in blines if line.strip()]
        if min(indents) != 4:  # 1-space: part-of-speech line; 5+: code, verse, tables
            continue
        para = clean_text(re.sub(r"[{}]", "", block))
        para = re.sub(r"^(\d+\. )?\[[^\]]*\]\s*", r"\1", para)  # usage tag like [techspeak]
        if is_prose(para):
            paras.append(para)
    if paras:
        paras[0] = f"{head}: {paras[0]}"
    return paras


def devil_paras(entry: str) -> list[str]:
    """Prose paragraphs of one Devil's Dictionary entry; indented verse is dropped."""
    paras = []
    for block in _blocks(entry):
        if block.startswith(" "):
            continue
        para = clean_text(re.sub(r"[{}]", "", block))
        if len(para) >= 40 and para[-1] in ".!?\"'":
            paras.append(para)
    return paras


def dict_docs(root: Path, name: str, source: str, to_paras, seen: set[str]) -> list[dict]:
    d = root / "usr/share/dictd"
    paras = []
    for _, entry in dict_entries(d / f"{name}.index", d / f"{name}.dict.dz"):
        paras.extend(dedup(to_paras(entry), seen))
    return [{"id": f"{name}/{i}", "text": text, "source": source} for i, text in enumerate(pack(paras))]


# ---------------------------------------------------------------- split / write
def is_heldout(doc_id: str) -> bool:
    return int(hashlib.sha256(doc_id.encode()).hexdigest(), 16) % 100 < HELDOUT_PERCENT


# The SQLite docs' examples name absolute paths on someone's machine (a drive letter and folder, a
# home directory); shipped text must not carry machine paths, so they become relative ones.
MACHINE_PATH = re.compile(r"\b[A-Za-z]:([/\\])\w+[/\\]|(?<![\w.])/(?:home|Users)/\w+/")


def scrub_paths(text: str) -> str:
    return MACHINE_PATH.sub(lambda m: f"work{m.group(1)}" if m.group(1) else "user/", text)


def write_jsonl(path: Path, rows: list[dict]) -> int:
    tmp = path.with_suffix(".tmp")
    with tmp.open("w", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps({**r, "text": scrub_paths(r["text"])}, ensure_ascii=False) + "\n")
    os.replace(tmp, path)
    return path.stat().st_size


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--debs", type=Path, help="dir holding the pinned .deb files")
    ap.add_argument("--out", type=Path, default=HERE)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = fetch_debs(args.debs, Path(tmp))
        seen: set[str] = set()
        docs = (
            sqlite_docs(root, seen)
            + dict_docs(root, "jargon", "dict-jargon", jargon_paras, seen)
            + dict_docs(root, "devil", "dict-devil", devil_paras, seen)
        )
    ids = [d["id"] for d in docs]
    assert len(ids) == len(set(ids)), "duplicate document ids"
    train = [d for d in docs if not is_heldout(d["id"])]
    held = [d for d in docs if is_heldout(d["id"])]
    args.out.mkdir(parents=True, exist_ok=True)
    total = write_jsonl(args.out / "train.jsonl", train) + write_jsonl(args.out / "heldout.jsonl", held)
    if total > MAX_TOTAL_BYTES:
        sys.exit(f"replay set is {total} bytes, over the {MAX_TOTAL_BYTES} budget")
    by_src: dict[str, int] = {}
    for d in docs:
        by_src[d["source"]] = by_src.get(d["source"], 0) + len(d["text"])
    print(f"replay: {len(train)} train + {len(held)} heldout docs, {total / 1e6:.2f} MB; chars by source {by_src}")


if __name__ == "__main__":
    main()

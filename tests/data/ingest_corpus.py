"""Test corpora for ingest (tests and bench/ingest.py): distinct prose, real PDFs, hostile inputs."""

from __future__ import annotations

import json
import os
import random
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

_SYLLABLES = ["ka", "lo", "mir", "te", "sun", "dra", "vel", "os", "ni", "bar", "qu", "en", "tor", "li", "ma", "ret"]


def vocabulary(n: int = 3000, seed: int = 7) -> list[str]:
    rng = random.Random(seed)
    return sorted({"".join(rng.choice(_SYLLABLES) for _ in range(rng.randint(1, 3))) for _ in range(n)})


VOCAB = vocabulary()


def prose(rng: random.Random, words: int = 250) -> str:
    """Random sentences over a 3000-word vocabulary: two such texts share almost no 5-gram."""
    out, sentences = [], []
    while len(out) < words:
        sentence = [rng.choice(VOCAB) for _ in range(rng.randint(8, 16))]
        out += sentence
        sentences.append(" ".join(sentence).capitalize() + ".")
    paragraphs = [" ".join(sentences[i : i + 5]) for i in range(0, len(sentences), 5)]
    return "\n\n".join(paragraphs)


def near_copy(text: str, rng: random.Random, changes: int = 3) -> str:
    """The same text with a few words replaced: Jaccard of 5-gram shingles ~0.9+ for 250 words."""
    words = text.split(" ")
    for i in rng.sample(range(len(words)), changes):
        words[i] = rng.choice(VOCAB)
    return " ".join(words)


def write_pdf(path: Path, text: str, title: str | None = None, lines_per_page: int = 45) -> None:
    """A minimal valid PDF (Helvetica, one text line per 80 chars) that pypdf can extract."""
    lines = []
    for para in text.split("\n\n"):
        words, cur = para.split(), ""
        for w in words:
            if len(cur) + len(w) > 80:
                lines.append(cur)
                cur = ""
            cur = f"{cur} {w}".strip()
        lines += [cur, ""]
    pages = [lines[i : i + lines_per_page] for i in range(0, len(lines), lines_per_page)] or [[""]]
    esc = lambda s: s.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")  # noqa: E731
    objs = {1: "<< /Type /Catalog /Pages 2 0 R >>", 3: "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"}
    kids = []
    for k, page in enumerate(pages):
        page_id, content_id = 4 + 2 * k, 5 + 2 * k
        stream = "BT /F1 10 Tf 12 TL 50 760 Td " + " ".join(f"({esc(s)}) Tj T*" for s in page) + " ET"
        objs[content_id] = f"<< /Length {len(stream.encode('latin-1'))} >>\nstream\n{stream}\nendstream"
        objs[page_id] = (
            f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents {content_id} 0 R "
            "/Resources << /Font << /F1 3 0 R >> >> >>"
        )
        kids.append(f"{page_id} 0 R")
    objs[2] = f"<< /Type /Pages /Kids [{' '.join(kids)}] /Count {len(kids)} >>"
    info = len(objs) + 1
    objs[info] = f"<< /Title ({esc(title or '')}) >>"
    out, offsets = bytearray(b"%PDF-1.4\n"), {}
    for i in sorted(objs):
        offsets[i] = len(out)
        out += f"{i} 0 obj\n{objs[i]}\nendobj\n".encode("latin-1")
    xref = len(out)
    out += f"xref\n0 {len(objs) + 1}\n0000000000 65535 f \n".encode()
    out += "".join(f"{offsets[i]:010d} 00000 n \n" for i in sorted(objs)).encode()
    out += f"trailer\n<< /Size {len(objs) + 1} /Root 1 0 R /Info {info} 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    path.write_bytes(bytes(out))


@dataclass
class Hostile:
    """A data/raw folder and what ingest must make of it."""

    raw: Path
    text_field: str
    distinct: list[str] = field(default_factory=list)  # sources that must be kept
    exact: list[tuple[str, str]] = field(default_factory=list)  # (original, copy) sources
    near: list[tuple[str, str]] = field(default_factory=list)
    reasons: dict[str, str] = field(default_factory=dict)  # source -> expected drop reason
    unreadable: str = ""


def build_hostile(root: Path) -> Hostile:
    """Every format, 20 exact and 20 near duplicates, and the inputs that break naive pipelines."""
    rng = random.Random(0)
    raw = root / "raw"
    for sub in ("txt", "web", "dump", "pdf", "odd"):
        (raw / sub).mkdir(parents=True)
    h = Hostile(raw, text_field="content")
    texts: dict[str, str] = {}

    def add(source: str, text: str) -> str:
        texts[source] = text
        return source

    # one or more documents per format; every one distinct from all others
    for i in range(8):
        (raw / f"txt/note{i:02d}.txt").write_text(t := prose(rng))
        h.distinct.append(add(f"txt/note{i:02d}.txt", t))
    for i in range(4):
        (raw / f"txt/page{i}.md").write_text(f"# Page {i}\n\n" + (t := prose(rng)))
        h.distinct.append(add(f"txt/page{i}.md", t))
    for i, ext in enumerate(["html", "htm", "html"]):
        t = prose(rng)
        body = "".join(f"<p>{p}</p>" for p in t.split("\n\n"))
        (raw / f"web/site{i}.{ext}").write_text(
            f"<html><head><title>Site {i}</title><script>var tracking = 1;</script><style>p {{}}</style></head>"
            f"<body><nav><a href='/'>Home</a> | <a href='/about'>About us</a></nav><article>{body}</article>"
            "<footer>Copyright 2024 Example Corp</footer></body></html>"
        )
        h.distinct.append(add(f"web/site{i}.{ext}", t))
    lines = []  # 10 good rows, 2 malformed lines and a blank one in between
    for i in range(10):
        if i == 3:
            lines.append("{not json at all")
            h.reasons[f"dump/rows.jsonl:{len(lines)}"] = "malformed"
        if i == 6:
            lines.append(json.dumps({"body": "no content field"}))
            h.reasons[f"dump/rows.jsonl:{len(lines)}"] = "malformed"
        if i == 8:
            lines.append("")
        lines.append(json.dumps({"content": (t := prose(rng)), "title": f"Row {i}", "lang": "xx", "id": i}))
        h.distinct.append(add(f"dump/rows.jsonl:{len(lines)}", t))
    (raw / "dump/rows.jsonl").write_text("\n".join(lines) + "\n")
    arr = [{"content": (t := prose(rng)), "author": "A"} for _ in range(3)]
    (raw / "dump/array.json").write_text(json.dumps(arr, indent=2))
    h.distinct += [add(f"dump/array.json:{i + 1}", r["content"]) for i, r in enumerate(arr)]
    tab = [prose(rng) for _ in range(4)]
    pq.write_table(pa.table({"content": tab, "score": [0.1, 0.2, 0.3, 0.4]}), raw / "dump/table.parquet")
    h.distinct += [add(f"dump/table.parquet:{i + 1}", t) for i, t in enumerate(tab)]
    for i in range(2):
        write_pdf(raw / f"pdf/manual{i}.pdf", t := prose(rng, 400), title=f"Manual {i}")
        h.distinct.append(add(f"pdf/manual{i}.pdf", t))

    # 20 exact duplicates (whitespace/CRLF differences vanish in normalization) and 20 near ones
    for i in range(20):
        (raw / f"txt/orig{i:02d}.txt").write_text(t := prose(rng))
        copy = f"odd/copy{i:02d}.md" if i % 2 else f"txt/copy{i:02d}.txt"
        (raw / copy).write_bytes(t.replace("\n", "\r\n").replace(". ", ".  ").encode())
        h.exact.append((add(f"txt/orig{i:02d}.txt", t), copy))
    near_rows = []
    for i in range(20):
        (raw / f"txt/base{i:02d}.txt").write_text(t := prose(rng, 300))
        near_rows.append({"content": near_copy(t, rng)})
        h.near.append((add(f"txt/base{i:02d}.txt", t), f"dump/near.jsonl:{i + 1}"))
    (raw / "dump/near.jsonl").write_text("".join(json.dumps(r) + "\n" for r in near_rows))

    # hostile inputs
    (raw / "odd/empty.txt").write_bytes(b"")
    (raw / "odd/blank.md").write_text("  \n\n \t\n")
    (raw / "odd/program.txt").write_bytes(os.urandom(4096) + b"\x00" * 64)  # binary renamed .txt
    latin = (
        "Le château de Fénelon domine la vallée. Déjà célèbre à l'époque, il accueillait des élèves "
        "venus de très loin. " + prose(rng, 60)
    )
    (raw / "odd/latin1.txt").write_bytes(latin.encode("latin-1"))
    h.distinct.append("odd/latin1.txt")
    (raw / "odd/utf16.txt").write_bytes((t := prose(rng)).encode("utf-16"))
    h.distinct.append("odd/utf16.txt")
    with open(raw / "odd/oneline.txt", "wb") as f:  # 50 MB, no newline: fast to write, must not hang
        chunk = (" ".join(VOCAB[:400]) + " ").encode()
        for _ in range(50_000_000 // len(chunk) + 1):
            f.write(chunk)
    h.reasons["odd/oneline.txt"] = "too_long"
    (raw / "odd/gone.txt").symlink_to(root / "does-not-exist.txt")
    h.reasons["odd/gone.txt"] = "broken_symlink"
    (root / "secret.txt").write_text(prose(rng))
    (raw / "odd/escape.txt").symlink_to(root / "secret.txt")
    h.reasons["odd/escape.txt"] = "symlink_outside"
    (raw / "odd/locked.txt").write_text(prose(rng))
    os.chmod(raw / "odd/locked.txt", 0)
    h.unreadable = "odd/locked.txt"
    (raw / "odd/photo.png").write_bytes(b"\x89PNG\r\n\x1a\n" + os.urandom(200))
    (raw / "odd/report.docx").write_bytes(os.urandom(200))
    h.reasons.update(
        {
            "odd/photo.png": "unknown_extension",
            "odd/report.docx": "unknown_extension",
            "odd/empty.txt": "empty",
            "odd/blank.md": "empty",
            "odd/program.txt": "binary",
        }
    )
    (raw / "odd/.DS_Store").write_bytes(b"\x00\x00")
    h.reasons["odd/.DS_Store"] = "hidden"
    return h

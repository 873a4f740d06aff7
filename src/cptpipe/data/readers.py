"""Readers: one file in, raw (text, title, metadata) records out, or a drop reason."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

TEXT_EXTS = {".txt", ".md", ".markdown", ".rst"}
HTML_EXTS = {".html", ".htm"}
JSON_EXTS = {".jsonl", ".json"}
PARQUET_EXTS = {".parquet"}
PDF_EXTS = {".pdf"}
WESTERN = ("cp1252", "latin_1", "iso8859_15")
KNOWN_EXTS = TEXT_EXTS | HTML_EXTS | JSON_EXTS | PARQUET_EXTS | PDF_EXTS


@dataclass
class RawDoc:
    source: str
    text: str
    title: str | None = None
    metadata: dict = field(default_factory=dict)


@dataclass
class Drop:
    source: str
    reason: str
    detail: str = ""


def decode_bytes(data: bytes) -> str | None:
    """UTF-8 first (with BOM), then UTF-16 by BOM, then a detected encoding; None for binary."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError:
            return None
    if b"\x00" in data[:8192]:
        return None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    from charset_normalizer import from_bytes

    matches = from_bytes(data[:1_000_000])
    best = matches.best()
    if best is None:
        return None
    encoding = best.encoding
    # Short Western texts are ambiguous between single-byte code pages; when a Western one reads
    # as cleanly as the detector's pick, prefer it (Latin-1/cp1252 is by far the likelier source).
    for m in matches:
        if m.encoding in WESTERN and m.chaos <= best.chaos + 0.1:
            encoding = m.encoding
            break
    try:
        return data.decode(encoding)
    except (UnicodeDecodeError, LookupError):
        return None


def html_to_text(html: str) -> tuple[str, str | None]:
    """Visible text of an HTML page without scripts, styles and navigation; and its <title>."""
    from selectolax.lexbor import LexborHTMLParser as HTMLParser

    tree = HTMLParser(html)
    title_node = tree.css_first("title")
    title = title_node.text(strip=True) if title_node else None
    for sel in ("script", "style", "noscript", "nav", "header", "footer", "aside", "form"):
        for node in tree.css(sel):
            node.decompose()
    body = tree.body or tree.root
    blocks = []
    for node in body.css("h1, h2, h3, h4, h5, h6, p, li, pre, td, blockquote"):
        t = node.text(separator=" ", strip=True)
        if t:
            blocks.append(t)
    text = "\n\n".join(blocks) if blocks else body.text(separator="\n", strip=True)
    return text, title


def read_file(path: Path, rel: str, text_field: str) -> Iterator[RawDoc | Drop]:
    """Yield documents of one file, or drops with a reason; never raises on bad content."""
    ext = path.suffix.lower()
    if ext not in KNOWN_EXTS:
        yield Drop(rel, "unknown_extension", ext or "(none)")
        return
    try:
        if ext in PARQUET_EXTS:
            yield from _read_parquet(path, rel, text_field)
            return
        if ext in PDF_EXTS:
            yield from _read_pdf(path, rel)
            return
        data = path.read_bytes()
    except PermissionError as e:
        yield Drop(rel, "unreadable", str(e.strerror))
        return
    except OSError as e:
        yield Drop(rel, "unreadable", e.strerror or type(e).__name__)
        return
    if not data.strip():
        yield Drop(rel, "empty")
        return
    text = decode_bytes(data)
    if text is None:
        yield Drop(rel, "binary" if b"\x00" in data[:8192] else "undecodable")
        return
    if ext in HTML_EXTS:
        body, title = html_to_text(text)
        yield RawDoc(rel, body, title)
    elif ext in JSON_EXTS:
        yield from _read_json_lines(text, rel, text_field)
    else:
        yield RawDoc(rel, text)


def _read_json_lines(text: str, rel: str, text_field: str) -> Iterator[RawDoc | Drop]:
    stripped = text.lstrip()
    if rel.endswith(".json") and stripped.startswith("["):
        try:
            rows = json.loads(text)
        except json.JSONDecodeError as e:
            yield Drop(rel, "malformed", f"line {e.lineno}: {e.msg}")
            return
        items = enumerate(rows, 1)
    else:
        items = ((i, line) for i, line in enumerate(text.split("\n"), 1) if line.strip())
    for lineno, item in items:
        if isinstance(item, str):
            try:
                item = json.loads(item)
            except json.JSONDecodeError as e:
                yield Drop(f"{rel}:{lineno}", "malformed", e.msg)
                continue
        if not isinstance(item, dict) or not isinstance(item.get(text_field), str):
            yield Drop(f"{rel}:{lineno}", "malformed", f"no string field {text_field!r} (ingest.text_field)")
            continue
        meta = {k: v for k, v in item.items() if k != text_field}
        title = meta.get("title") if isinstance(meta.get("title"), str) else None
        yield RawDoc(f"{rel}:{lineno}", item[text_field], title, meta)


def _read_parquet(path: Path, rel: str, text_field: str) -> Iterator[RawDoc | Drop]:
    import pyarrow.parquet as pq

    try:
        pf = pq.ParquetFile(path)
    except Exception as e:  # noqa: BLE001 - any parse failure of a user file is a drop, not a crash
        yield Drop(rel, "malformed", str(e)[:200])
        return
    if text_field not in pf.schema_arrow.names:
        yield Drop(rel, "malformed", f"no column {text_field!r} (ingest.text_field)")
        return
    row = 0
    for batch in pf.iter_batches(batch_size=1024):
        for rec in batch.to_pylist():
            row += 1
            text = rec.pop(text_field)
            if not isinstance(text, str):
                yield Drop(f"{rel}:{row}", "malformed", "text is not a string")
                continue
            title = rec.get("title") if isinstance(rec.get("title"), str) else None
            yield RawDoc(f"{rel}:{row}", text, title, rec)


def _read_pdf(path: Path, rel: str) -> Iterator[RawDoc | Drop]:
    from pypdf import PdfReader

    try:
        reader = PdfReader(path)
        text = "\n\n".join((page.extract_text() or "") for page in reader.pages)
    except Exception as e:  # noqa: BLE001 - a broken PDF is a drop
        yield Drop(rel, "malformed", str(e)[:200])
        return
    title = (reader.metadata.title if reader.metadata else None) or None
    yield RawDoc(rel, text, title)

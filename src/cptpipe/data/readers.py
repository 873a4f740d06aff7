"""Readers: one file (or one piece of a big JSONL/Parquet file) in, documents or drops out.

A reader never raises on bad content: every problem becomes a `Drop` with a named reason, so the
stage report can say where each input went. JSONL and Parquet are streamed; other formats are one
document per file and are read whole (bounded by `ingest.max_file_mb`).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from cptpipe.data.documents import Doc, Drop

TEXT_EXTS = {".txt", ".md", ".markdown", ".rst"}
HTML_EXTS = {".html", ".htm"}
JSON_EXTS = {".jsonl", ".json"}
PARQUET_EXTS = {".parquet"}
PDF_EXTS = {".pdf"}
WESTERN = ("cp1252", "latin_1", "iso8859_15")
KNOWN_EXTS = TEXT_EXTS | HTML_EXTS | JSON_EXTS | PARQUET_EXTS | PDF_EXTS
# Page furniture and scripts, not content. role= catches sites that navigate with plain <div>s.
HTML_JUNK = (
    "script, style, noscript, template, svg, iframe, button, nav, header, footer, aside, form, "
    "[role=navigation], [role=banner], [role=contentinfo], [aria-hidden=true]"
)
HTML_BLOCKS = (
    "h1, h2, h3, h4, h5, h6, p, li, dt, dd, pre, td, th, caption, figcaption, blockquote, div, section, article"
)


@dataclass(frozen=True)
class Piece:
    """A unit of reading work: a whole file, or a line range of a JSONL / row groups of a Parquet file."""

    rel: str  # path relative to data/raw: the `source` of its documents
    path: str
    size: int  # bytes, for scheduling
    start: int = 0  # jsonl: byte offset; parquet: first row group
    stop: int = -1  # jsonl: end byte offset; parquet: end row group (exclusive); -1: end of file
    first: int = 1  # number of the first line / row in the piece, for `file:N` sources


def decode_bytes(data: bytes) -> str | None:
    """UTF-8 first (with BOM), then UTF-16/32 by BOM or NUL pattern, then a detected encoding; None if binary."""
    for bom, codec in (
        (b"\xff\xfe\x00\x00", "utf-32"),
        (b"\x00\x00\xfe\xff", "utf-32"),
        (b"\xff\xfe", "utf-16"),
        (b"\xfe\xff", "utf-16"),
    ):
        if data.startswith(bom):
            try:
                return data.decode(codec)
            except UnicodeDecodeError:
                return None
    if b"\x00" in data:
        return _decode_utf16_without_bom(data)
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


def _decode_utf16_without_bom(data: bytes) -> str | None:
    """Text in UTF-16 without a BOM has NULs in every other byte (for Latin scripts); else binary."""
    sample = data[:4096]
    half = len(sample) // 2
    even, odd = sample[0::2].count(0), sample[1::2].count(0)
    if half < 2 or min(even, odd) > 0.02 * half or max(even, odd) < 0.3 * half:
        return None
    try:
        text = data.decode("utf-16-le" if odd > even else "utf-16-be")
    except UnicodeDecodeError:
        return None
    head = text[:2048]
    printable = sum(c.isprintable() or c in "\n\r\t" for c in head)
    return text if printable >= 0.95 * len(head) else None  # NUL-padded records, not text


def html_to_text(html: str) -> tuple[str, str | None]:
    """Visible text of an HTML page without scripts, styles and navigation; and its <title>."""
    from selectolax.lexbor import LexborHTMLParser

    tree = LexborHTMLParser(html)
    title_node = tree.css_first("title") or tree.css_first("h1")
    title = title_node.text(strip=True) or None if title_node else None
    for node in tree.css(HTML_JUNK):
        node.decompose()
    body = tree.body or tree.root
    if body is None:
        return "", title
    blocks = []
    for node in body.css(HTML_BLOCKS):
        # Innermost blocks give paragraphs once each; a container contributes only its own loose text.
        leaf = len(node.css(HTML_BLOCKS)) == 1  # css() matches the node itself too
        t = node.text(separator=" ", deep=leaf, strip=True)
        if t:
            # h1-h3 as Markdown headings: sections.py splits long pages there, as in .md files
            mark = "#" * int(node.tag[1]) + " " if node.tag in ("h1", "h2", "h3") else ""
            blocks.append(mark + " ".join(t.split()))
    text = "\n\n".join(blocks) if blocks else body.text(separator="\n", strip=True)
    return text, title


def plan_pieces(path: Path, rel: str, piece_bytes: int) -> list[Piece]:
    """Split big JSONL (at line ends) and Parquet (at row groups) files so both cores share them."""
    size = file_size(path)
    whole = [Piece(rel, str(path), size)]
    ext = path.suffix.lower()
    if size <= piece_bytes or ext not in {".jsonl", ".parquet"}:
        return whole
    try:
        return _parquet_pieces(path, rel, piece_bytes) if ext == ".parquet" else _jsonl_pieces(path, rel, piece_bytes)
    except Exception:  # noqa: BLE001 - an unreadable/broken file is reported by its reader, as one piece
        return whole


def file_size(path: Path) -> int:
    """Bytes of a file; 0 when it cannot be stat'ed (its reader then reports it as unreadable)."""
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _jsonl_pieces(path: Path, rel: str, piece_bytes: int) -> list[Piece]:
    size = file_size(path)
    with open(path, "rb") as f:
        head = f.read(4096)
        if b"\x00" in head or head.startswith((b"\xff\xfe", b"\xfe\xff")):
            return [Piece(rel, str(path), size)]  # UTF-16 JSONL is decoded whole
        pieces, start, line = [], 0, 1
        while start + piece_bytes < size:
            f.seek(start + piece_bytes)
            f.readline()  # finish the line that crosses the boundary
            end = f.tell()
            if end >= size:
                break
            pieces.append(Piece(rel, str(path), end - start, start, end, line))
            f.seek(start)
            line += sum(f.read(min(8 << 20, end - pos)).count(b"\n") for pos in range(start, end, 8 << 20))
            start = end
    pieces.append(Piece(rel, str(path), size - start, start, -1, line))
    return pieces


def _parquet_pieces(path: Path, rel: str, piece_bytes: int) -> list[Piece]:
    import pyarrow.parquet as pq

    meta = pq.ParquetFile(path).metadata
    pieces, first_group, first_row, size, rows = [], 0, 1, 0, 0
    for g in range(meta.num_row_groups):
        rg = meta.row_group(g)
        size += rg.total_byte_size
        rows += rg.num_rows
        if size >= piece_bytes or g == meta.num_row_groups - 1:
            pieces.append(Piece(rel, str(path), size, first_group, g + 1, first_row))
            first_group, first_row, size, rows = g + 1, first_row + rows, 0, 0
    return pieces


def read_file(path: Path, rel: str, text_field: str, max_bytes: int | None = None) -> Iterator[Doc | Drop]:
    """Yield documents of one whole file, or drops with a reason; never raises on bad content."""
    yield from read_piece(Piece(rel, str(path), file_size(path)), text_field, max_bytes)


def read_piece(piece: Piece, text_field: str, max_bytes: int | None = None) -> Iterator[Doc | Drop]:
    """Yield the documents of one piece, or drops; `max_bytes` caps formats that are read whole."""
    path, rel = Path(piece.path), piece.rel
    ext = path.suffix.lower()
    if ext not in KNOWN_EXTS:
        yield Drop(rel, "unknown_extension", ext or "(none)")
        return
    try:
        if ext in PARQUET_EXTS:
            yield from _read_parquet(path, piece, text_field)
        elif ext == ".jsonl":
            yield from _read_jsonl(path, piece, text_field, max_bytes)
        else:
            yield from _read_whole(path, rel, ext, text_field, max_bytes)
    except OSError as e:  # vanished, permission denied, I/O error: the file, not the stage, is at fault
        yield Drop(rel, "unreadable", e.strerror or type(e).__name__)


def _read_whole(path: Path, rel: str, ext: str, text_field: str, max_bytes: int | None) -> Iterator[Doc | Drop]:
    size = path.stat().st_size
    if max_bytes is not None and size > max_bytes:
        yield Drop(rel, "too_large", f"{size} bytes > ingest.max_file_mb")
        return
    if ext in PDF_EXTS:
        yield from _read_pdf(path, rel)
        return
    data = path.read_bytes()
    if not data.strip():
        yield Drop(rel, "empty")
        return
    text = decode_bytes(data)
    if text is None:
        yield Drop(rel, "binary" if b"\x00" in data else "undecodable")
        return
    if ext in HTML_EXTS:
        body, title = html_to_text(text)
        yield Doc(rel, body, title)
    elif ext in JSON_EXTS:
        yield from _read_json(text, rel, text_field)
    else:
        yield Doc(rel, text)


def _read_json(text: str, rel: str, text_field: str) -> Iterator[Doc | Drop]:
    """A .json file: an array of records, one record, or JSON Lines saved as .json."""
    stripped = text.lstrip()
    if stripped.startswith(("[", "{")):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as e:
            if stripped.startswith("["):
                yield Drop(rel, "malformed", f"line {e.lineno}: {e.msg}")
                return
            data = None  # "{...}\n{...}": JSON Lines
        except RecursionError:
            yield Drop(rel, "malformed", "nested too deeply")
            return
        if isinstance(data, list):
            yield from _records(((i, item) for i, item in enumerate(data, 1)), rel, text_field)
            return
        if isinstance(data, dict):
            yield from _records([(0, data)], rel, text_field)
            return
    yield from _records(((i, line) for i, line in enumerate(text.split("\n"), 1) if line.strip()), rel, text_field)


def _read_jsonl(path: Path, piece: Piece, text_field: str, max_bytes: int | None) -> Iterator[Doc | Drop]:
    """Stream JSON Lines: memory holds one line, not the file."""
    rel = piece.rel
    with open(path, "rb") as f:
        if piece.start == 0:
            head = f.read(4096)
            if not head.strip():
                yield Drop(rel, "empty")
                return
            if b"\x00" in head or head.startswith((b"\xff\xfe", b"\xfe\xff")):  # UTF-16/32: decode whole
                yield from _read_whole(path, rel, ".json", text_field, max_bytes)
                return
        f.seek(piece.start)
        yield from _records(_lines(f, piece), rel, text_field)


def _lines(f, piece: Piece) -> Iterator[tuple[int, bytes | str]]:
    pos = piece.start
    for lineno, line in enumerate(f, piece.first):
        if 0 <= piece.stop <= pos:
            return
        pos += len(line)
        if not line.strip():
            continue
        try:
            yield lineno, line.decode("utf-8")
        except UnicodeDecodeError:
            text = decode_bytes(line)  # a stray Latin-1 line in a UTF-8 dump
            yield lineno, text if text is not None else line


def _records(items: Iterable[tuple[int, object]], rel: str, text_field: str) -> Iterator[Doc | Drop]:
    """Records of a JSON file; item 0 means "the whole file is one record" (source without :N)."""
    for n, item in items:
        source = f"{rel}:{n}" if n else rel
        if isinstance(item, bytes):
            yield Drop(source, "undecodable", "line is neither UTF-8 nor a detectable encoding")
            continue
        if isinstance(item, str):
            try:
                item = json.loads(item)
            except json.JSONDecodeError as e:
                yield Drop(source, "malformed", e.msg)
                continue
            except RecursionError:
                yield Drop(source, "malformed", "nested too deeply")
                continue
        if not isinstance(item, dict) or not isinstance(item.get(text_field), str):
            yield Drop(source, "malformed", f"no string field {text_field!r} (ingest.text_field)")
            continue
        meta = {k: v for k, v in item.items() if k != text_field}
        title = meta.get("title") if isinstance(meta.get("title"), str) else None
        yield Doc(source, item[text_field], title, meta)


def _read_parquet(path: Path, piece: Piece, text_field: str) -> Iterator[Doc | Drop]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    rel = piece.rel
    try:
        pf = pq.ParquetFile(path)
        schema = pf.schema_arrow
    except OSError:
        raise
    except Exception as e:  # noqa: BLE001 - any parse failure of a user file is a drop, not a crash
        yield Drop(rel, "malformed", str(e)[:200])
        return
    if text_field not in schema.names:
        yield Drop(rel, "malformed", f"no column {text_field!r} (ingest.text_field); columns: {schema.names[:10]}")
        return
    # binary columns (images, embeddings as bytes) would bloat the metadata JSON: not read
    columns = [
        f.name
        for f in schema
        if f.name == text_field
        or not (pa.types.is_binary(f.type) or pa.types.is_large_binary(f.type) or pa.types.is_fixed_size_binary(f.type))
    ]
    stop = pf.metadata.num_row_groups if piece.stop < 0 else piece.stop
    row = piece.first - 1
    try:
        for batch in pf.iter_batches(batch_size=1024, row_groups=range(piece.start, stop), columns=columns):
            for rec in batch.to_pylist():
                row += 1
                text = rec.pop(text_field)
                if not isinstance(text, str):
                    yield Drop(f"{rel}:{row}", "malformed", f"{text_field!r} is not a string (ingest.text_field)")
                    continue
                title = rec.get("title") if isinstance(rec.get("title"), str) else None
                yield Doc(f"{rel}:{row}", text, title, rec)
    except OSError:
        raise
    except Exception as e:  # noqa: BLE001 - a corrupt row group: keep what was read, report the rest
        yield Drop(f"{rel}:{row + 1}", "malformed", str(e)[:200])


def _read_pdf(path: Path, rel: str) -> Iterator[Doc | Drop]:
    from pypdf import PdfReader

    try:
        reader = PdfReader(path)
        if reader.is_encrypted and not reader.decrypt(""):
            yield Drop(rel, "unreadable", "encrypted PDF")
            return
        text = "\n\n".join((page.extract_text() or "") for page in reader.pages)
        title = (reader.metadata.title if reader.metadata else None) or None
    except OSError:
        raise
    except Exception as e:  # noqa: BLE001 - a broken PDF is a drop
        yield Drop(rel, "malformed", f"{type(e).__name__}: {str(e)[:200]}")
        return
    if not text.strip():
        yield Drop(rel, "empty", "no text layer (a scanned PDF needs OCR first)")
        return
    yield Doc(rel, text, title if isinstance(title, str) else None)

"""Each reader on tiny real files; decoding; pieces of big JSONL/Parquet files; failures as drops."""

import json
import random

import pyarrow as pa
import pyarrow.parquet as pq

from cptpipe.data.documents import Doc, Drop
from cptpipe.data.readers import decode_bytes, html_to_text, plan_pieces, read_file, read_piece
from tests.data.ingest_corpus import prose, write_pdf


def split(out):
    out = list(out)
    return [o for o in out if isinstance(o, Doc)], [o for o in out if isinstance(o, Drop)]


def test_text_and_markdown(tmp_path):
    (tmp_path / "a.txt").write_text("plain text")
    (tmp_path / "b.md").write_text("# Title\n\nbody")
    assert [d.text for d in read_file(tmp_path / "a.txt", "a.txt", "text")] == ["plain text"]
    assert [d.text for d in read_file(tmp_path / "b.md", "b.md", "text")] == ["# Title\n\nbody"]


def test_decode_utf8_latin1_utf16_with_and_without_bom_and_binary():
    assert decode_bytes("naïve café".encode()) == "naïve café"
    assert decode_bytes("\ufeffnaïve".encode("utf-8")) == "naïve"
    assert decode_bytes("naïve café".encode("utf-16")) == "naïve café"
    assert decode_bytes(("A plain note about the harbour. " * 4).encode("utf-16-le")).startswith("A plain note")
    latin = "Le château de Fénelon est très ancien, déjà célèbre à l'époque.".encode("latin-1")
    assert "château" in decode_bytes(latin)
    assert decode_bytes(b"\x00\x01\x02binary\x00") is None


def test_binary_and_undecodable_files_are_drops(tmp_path):
    (tmp_path / "bin.txt").write_bytes(b"\x7fELF\x02\x01\x01\x00" + bytes(range(256)) * 8)
    rng = random.Random(0)
    (tmp_path / "noise.txt").write_bytes(bytes(rng.randrange(1, 0x100) for _ in range(3000)))  # no NUL
    (tmp_path / "empty.txt").write_bytes(b" \n")
    reasons = {p.name: [d.reason for d in read_file(p, p.name, "text")] for p in tmp_path.iterdir()}
    assert reasons["bin.txt"] == ["binary"]
    assert reasons["noise.txt"] == ["undecodable"]
    assert reasons["empty.txt"] == ["empty"]


def test_vanished_or_unreadable_file_is_a_drop(tmp_path):
    # a file deleted between listing and reading behaves like one without read permission
    assert [(d.source, d.reason) for d in read_file(tmp_path / "gone.txt", "gone.txt", "text")] == [
        ("gone.txt", "unreadable")
    ]


def test_whole_file_formats_over_the_size_cap_are_not_read(tmp_path):
    (tmp_path / "big.txt").write_text("x" * 5000)
    assert [d.reason for d in read_file(tmp_path / "big.txt", "big.txt", "text", max_bytes=1000)] == ["too_large"]


def test_html_drops_scripts_navigation_and_keeps_paragraphs_once():
    text, title = html_to_text(
        "<html><head><title>T</title><script>var x=1;</script><style>p{}</style></head><body>"
        "<nav>Home | About</nav><div role='navigation'>Menu</div><header>Site header</header>"
        "<article><h1>Heading</h1><p>Real <b>bold</b> paragraph.</p><ul><li><p>Item one</p></li></ul>"
        "<div>Loose text<p>Inner</p></div></article><footer>(c) 2024</footer></body></html>"
    )
    assert title == "T"
    assert text.split("\n\n") == ["# Heading", "Real bold paragraph.", "Item one", "Loose text", "Inner"]


def test_jsonl_keeps_good_lines_and_names_malformed_ones(tmp_path):
    f = tmp_path / "d.jsonl"
    f.write_text(
        json.dumps({"body": "first", "title": "A", "url": "u"})
        + "\n{broken\n\n"
        + json.dumps({"text": "x"})
        + "\n"
        + json.dumps({"body": "last"})
        + "\n"
    )
    docs, drops = split(read_file(f, "d.jsonl", "body"))
    assert [(d.source, d.text) for d in docs] == [("d.jsonl:1", "first"), ("d.jsonl:5", "last")]
    assert docs[0].metadata == {"title": "A", "url": "u"} and docs[0].title == "A"
    assert [(d.source, d.reason) for d in drops] == [("d.jsonl:2", "malformed"), ("d.jsonl:4", "malformed")]
    assert "ingest.text_field" in drops[1].detail


def test_jsonl_with_a_latin1_line_decodes_it(tmp_path):
    f = tmp_path / "d.jsonl"
    f.write_bytes(json.dumps({"text": "ok"}).encode() + b"\n" + '{"text": "café"}'.encode("latin-1") + b"\n")
    docs, drops = split(read_file(f, "d.jsonl", "text"))
    assert [d.text for d in docs] == ["ok", "café"] and not drops


def test_big_jsonl_is_split_into_pieces_with_true_line_numbers(tmp_path):
    f = tmp_path / "big.jsonl"
    lines = [json.dumps({"text": f"row {i} " + "x" * (i % 50), "i": i}) for i in range(1, 2001)]
    lines[99] = "{bad"
    lines[500] = ""
    f.write_text("\n".join(lines) + "\n")
    pieces = plan_pieces(f, "big.jsonl", piece_bytes=5000)
    assert len(pieces) > 10
    assert pieces[0].start == 0 and pieces[-1].stop == -1
    assert all(a.stop == b.start for a, b in zip(pieces, pieces[1:]))
    docs, drops = split([o for p in pieces for o in read_piece(p, "text")])
    assert [(d.source, d.reason) for d in drops] == [("big.jsonl:100", "malformed")]
    assert len(docs) == 1998 and all(d.source == f"big.jsonl:{d.metadata['i']}" for d in docs)


def test_json_array_single_object_and_json_lines_in_dot_json(tmp_path):
    (tmp_path / "arr.json").write_text(json.dumps([{"text": "a"}, {"text": "b"}, 3], indent=2))
    (tmp_path / "one.json").write_text(json.dumps({"text": "solo", "k": 1}, indent=2))
    (tmp_path / "lines.json").write_text('{"text": "l1"}\n{"text": "l2"}\n')
    (tmp_path / "broken.json").write_text('[{"text": "a"},\n')
    docs, drops = split(read_file(tmp_path / "arr.json", "arr.json", "text"))
    assert [d.source for d in docs] == ["arr.json:1", "arr.json:2"] and [d.source for d in drops] == ["arr.json:3"]
    assert [(d.source, d.metadata) for d in read_file(tmp_path / "one.json", "one.json", "text")] == [
        ("one.json", {"k": 1})
    ]
    assert [d.text for d in read_file(tmp_path / "lines.json", "lines.json", "text")] == ["l1", "l2"]
    assert [d.reason for d in read_file(tmp_path / "broken.json", "broken.json", "text")] == ["malformed"]


def test_parquet_rows_metadata_and_row_group_pieces(tmp_path):
    table = pa.table({"text": [f"doc {i}" for i in range(10)], "lang": ["en"] * 10, "blob": [b"\x00\x01"] * 10})
    pq.write_table(table, tmp_path / "p.parquet", row_group_size=3)
    docs, _ = split(read_file(tmp_path / "p.parquet", "p.parquet", "text"))
    assert [d.source for d in docs] == [f"p.parquet:{i}" for i in range(1, 11)]
    assert docs[0].metadata == {"lang": "en"}  # binary columns are not metadata
    pieces = plan_pieces(tmp_path / "p.parquet", "p.parquet", piece_bytes=1)
    assert len(pieces) == 4
    assert [d.source for p in pieces for d in read_piece(p, "text")] == [d.source for d in docs]
    (tmp_path / "bad.parquet").write_bytes(b"PAR1 not really")
    pq.write_table(pa.table({"body": ["x"]}), tmp_path / "nofield.parquet")
    assert [d.reason for d in read_file(tmp_path / "bad.parquet", "bad.parquet", "text")] == ["malformed"]
    (drop,) = read_file(tmp_path / "nofield.parquet", "nofield.parquet", "text")
    assert drop.reason == "malformed" and "ingest.text_field" in drop.detail


def test_pdf_text_and_title_and_broken_pdf(tmp_path):
    text = prose(random.Random(3), 300)
    write_pdf(tmp_path / "m.pdf", text, title="Manual", lines_per_page=10)
    (doc,) = read_file(tmp_path / "m.pdf", "m.pdf", "text")
    assert doc.title == "Manual" and doc.text.split() == text.split()
    (tmp_path / "broken.pdf").write_bytes(b"%PDF-1.4\n garbage")
    assert [d.reason for d in read_file(tmp_path / "broken.pdf", "broken.pdf", "text")] == ["malformed"]


def test_unknown_extension(tmp_path):
    (tmp_path / "x.docx").write_bytes(b"PK")
    assert [(d.reason, d.detail) for d in read_file(tmp_path / "x.docx", "x.docx", "text")] == [
        ("unknown_extension", ".docx")
    ]

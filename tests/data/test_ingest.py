"""Ingest on small folders: splits, every input accounted for, duplicates found, include globs.
How each format is read is tested in test_readers.py, each step in test_steps.py, byte-identical
output across runs and worker counts in test_ingest_hostile.py."""

from cptpipe.data.documents import doc_id_of, split_key, split_of
from cptpipe.data.ingest import build_documents
from cptpipe.params import DedupParams, FilterParams, IngestParams

PROSE = (
    "The lighthouse at Carrow Point was built in 1871 by the harbour board. Its lamp burned "
    "whale oil until 1902, when a paraffin burner replaced it. Keepers lived in two cottages "
    "beside the tower and rowed to the village for supplies every Friday. "
)


def params(**kw) -> IngestParams:
    # make_raw doubles a paragraph to vary document length, which the Gopher repetition rule would
    # drop; that rule has its own tests (test_filters.py), so it is off here.
    base = dict(min_chars=100, dedup=DedupParams(exact=True, near=0.8), filters=FilterParams(max_dup_5gram_frac=1.0))
    base.update(kw)
    return IngestParams(**base)


def test_split_is_stable_per_document_and_roughly_proportional():
    ids = [doc_id_of(f"doc {i}") for i in range(2000)]
    first = {i: split_of(i, 0.2, 0) for i in ids}
    assert {i: split_of(i, 0.2, 0) for i in ids[:500]} == {i: first[i] for i in ids[:500]}
    share = sum(v == "heldout" for v in first.values()) / len(ids)
    assert 0.16 < share < 0.24


def test_documents_sharing_a_heading_share_the_heldout_side(tmp_path):
    # Several biographies of one entity: if one were held out and a sibling trained, the held-out
    # questions would be trained through the sibling's QA.
    raw = tmp_path / "raw"
    raw.mkdir()
    towns = ["Carrow", "Brindle", "Ossen", "Varrow", "Quill", "Tamble", "Drim", "Hollin"]
    for e in range(40):
        for k in range(3):
            (raw / f"e{e}-{k}.md").write_text(
                f"# Entity {e}\n\nEntity {e} was born in {towns[(e + k) % 8]} in {1800 + 7 * e + k}. " + PROSE
            )
    for i in range(40):  # no heading: each document is its own unit
        (raw / f"plain{i}.txt").write_text(f"Plain note {i} from {1700 + i}. " + PROSE)
    rows, _ = build_documents(raw, params(dedup=DedupParams(exact=True, near=None)), seed=0)
    by_entity: dict[str, set[str]] = {}
    for r in rows:
        if r["source"].startswith("e"):
            by_entity.setdefault(r["title"], set()).add(r["split"])
        else:
            assert r["split"] == split_of(r["doc_id"], 0.2, 0)
    assert len(by_entity) == 40 and all(len(sides) == 1 for sides in by_entity.values())
    assert {"train", "heldout"} == set().union(*by_entity.values())
    assert split_key("# Entity 3\n\ntext", "abc") == split_key("## entity 3\nother text", "def")
    assert split_key("Entity 3\n\ntext", "abc") == "abc"


def make_raw(tmp_path):
    raw = tmp_path / "raw"
    (raw / "sub").mkdir(parents=True)
    for i in range(6):
        (raw / f"doc{i}.txt").write_text(f"Document number {i} about topic {i * 7}. " + PROSE * (1 + i % 2))
    (raw / "sub/copy.md").write_text("Document number 0 about topic 0. " + PROSE)  # exact duplicate of doc0
    near = "Document number 1 about topic 7. " + PROSE * 2
    (raw / "sub/near.txt").write_text(near.replace("Friday", "Saturday"))  # near duplicate of doc1
    (raw / "empty.txt").write_text("")
    (raw / "bin.txt").write_bytes(b"\x00\xff\x00\x10" * 100)
    (raw / "short.txt").write_text("Too short.")
    (raw / "image.png").write_bytes(b"\x89PNG....")
    (raw / "dangling.txt").symlink_to(tmp_path / "missing.txt")
    return raw


def test_every_input_is_kept_or_counted_and_duplicates_found(tmp_path):
    rows, report = build_documents(make_raw(tmp_path), params(), seed=0)
    assert report["docs_kept"] == 6 == len(rows)
    assert report["dropped"] == {
        "binary": 1,
        "broken_symlink": 1,
        "empty": 1,
        "exact_duplicate": 1,
        "near_duplicate": 1,
        "too_short": 1,
        "unknown_extension": 1,
    }
    assert report["files_seen"] == 13
    kept_sources = {r["source"] for r in rows}
    assert "doc0.txt" in kept_sources or "sub/copy.md" in kept_sources
    assert not ({"doc1.txt", "sub/near.txt"} <= kept_sources)

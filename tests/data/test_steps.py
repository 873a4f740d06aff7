"""The ingest steps: the first drop names the reason, profiles drop or flag, an added step is counted."""

import random
from pathlib import Path

from cptpipe.data.documents import Doc
from cptpipe.data.ingest import build_documents
from cptpipe.data.steps import DOC_STEPS, KEEP, run_steps
from cptpipe.params import DedupParams, FilterParams, IngestParams
from tests.data.ingest_corpus import near_copy, prose

ROOT = Path(__file__).resolve().parents[2]
GOOD = prose(random.Random(1), 200)


def no_lorem(doc: Doc, p: IngestParams) -> tuple[bool, str]:
    # at module level, as a real step would be: worker processes must be able to import it
    return (False, "lorem_ipsum") if "lorem ipsum" in doc.text.lower() else KEEP


def test_an_added_step_drops_the_planted_document_and_the_report_counts_it(tmp_path):
    raw = tmp_path / "raw"
    raw.mkdir()
    rng = random.Random(2)
    for i in range(4):
        (raw / f"note{i}.txt").write_text(prose(rng, 80))
    (raw / "planted.txt").write_text("Lorem ipsum dolor sit amet. " + prose(rng, 80))
    rows, report = build_documents(raw, IngestParams(), seed=0)
    assert "planted.txt" in {r["source"] for r in rows} and report["dropped"] == {}

    rows, report = build_documents(raw, IngestParams(), seed=0, steps=[*DOC_STEPS, no_lorem])
    assert sorted(r["source"] for r in rows) == [f"note{i}.txt" for i in range(4)]
    assert report["dropped"] == {"lorem_ipsum": 1} and report["docs_kept"] == 4
    assert report["files"]["planted.txt"] == {"lorem_ipsum": 1}
    assert [(d["source"], d["reason"]) for d in report["drops"]] == [("planted.txt", "lorem_ipsum")]


def test_the_first_drop_ends_the_run_and_names_the_reason():
    p = IngestParams(min_chars=100)
    doc = Doc("a.txt", "  Cafe\u0301   short  ")
    drop = run_steps(doc, DOC_STEPS, p)
    assert (drop.source, drop.reason, drop.detail, drop.chars) == ("a.txt", "too_short", "10 chars", 10)
    assert doc.text == "Caf\u00e9 short"  # normalize ran first
    assert run_steps(Doc("b.txt", " \n\t "), DOC_STEPS, p).reason == "empty"
    assert run_steps(Doc("c.txt", "x" * 50 + " " + GOOD), [*DOC_STEPS, no_lorem], p) is None


def test_quality_rules_drop_under_web_and_flag_under_curated():
    looped = "\n".join(["Parameters", "x: the input value", "Returns", "the result"] * 10) + "\n" + GOOD
    kw = dict(min_chars=100, boilerplate_repeats=0)  # the repeated lines are the point here
    assert run_steps(Doc("m.md", looped), DOC_STEPS, IngestParams(profile="web", **kw)).reason == "repeated_lines"
    doc = Doc("m.md", looped)
    assert run_steps(doc, DOC_STEPS, IngestParams(profile="curated", **kw)) is None
    assert doc.flags[0] == "repeated_lines"  # kept, with every rule that fired
    lenient = FilterParams(max_dup_line_frac=1.0, max_dup_5gram_frac=1.0, max_top_2gram_frac=1.0)
    assert run_steps(Doc("m.md", looped), DOC_STEPS, IngestParams(profile="web", filters=lenient, **kw)) is None
    doc = Doc("g.txt", GOOD)
    assert run_steps(doc, DOC_STEPS, IngestParams(profile="curated", **kw)) is None and doc.flags == []


def test_shipped_corpus_passes_the_default_steps():
    # The biographies name their entity in every fact sentence (what makes facts extractable), which
    # trips Gopher's top-2-gram share on short texts: flagged under the default profile, never dropped.
    paths = sorted((ROOT / "data/raw").rglob("*.md"))
    assert paths
    flagged = 0
    for path in paths:
        doc = Doc(path.name, path.read_text(encoding="utf-8"))
        assert run_steps(doc, DOC_STEPS, IngestParams()) is None and set(doc.flags) <= {"repeated_ngrams"}, path
        flagged += bool(doc.flags)
    assert flagged < len(paths) / 2


def test_each_dedup_step_sees_the_survivors_of_the_ones_before(tmp_path):
    rng = random.Random(3)
    a, b = prose(rng, 250), prose(rng, 250)
    raw = tmp_path / "raw"
    raw.mkdir()
    for name, text in {"s0.txt": a, "s1.txt": a, "s2.txt": near_copy(a, rng), "s3.txt": b}.items():
        (raw / name).write_text(text)
    for partitions in (1, 3):
        _, report = build_documents(raw, IngestParams(partitions=partitions), seed=0)
        drops = {d["source"]: (d["reason"], d["detail"]) for d in report["drops"]}
        assert drops["s1.txt"] == ("exact_duplicate", "kept s0.txt")  # the lower source of two equal texts stays
        near = [s for s, (reason, _) in drops.items() if reason == "near_duplicate"]
        assert len(near) == 1 and {near[0], drops[near[0]][1][5:]} == {"s0.txt", "s2.txt"}  # a ~ its copy: one stays
    _, report = build_documents(raw, IngestParams(dedup=DedupParams(exact=False)), seed=0)
    assert sorted(d["reason"] for d in report["drops"]) == ["near_duplicate"] * 2
    assert "s3.txt" not in {d["source"] for d in report["drops"]}

"""cptpipe.eval.instruct_check against the committed instruction rows and hand-made wrong answers."""

import json
from pathlib import Path

import pytest

from cptpipe.eval.instruct_check import CONSTRAINT_KINDS, check

INSTRUCT = Path(__file__).resolve().parents[2] / "data" / "instruct"


def _rows(split):
    with (INSTRUCT / f"{split}.jsonl").open(encoding="utf-8") as f:
        return [json.loads(line) for line in f]


def _kinds(c):
    yield c["kind"]
    for sub in c.get("of", []):
        yield from _kinds(sub)


@pytest.mark.parametrize("split", ["train", "heldout", "follow"])
def test_every_reference_response_passes_its_constraint(split):
    failed = [r["id"] for r in _rows(split) if not check(r["response"], r["constraint"])]
    assert failed == []


def test_rows_use_only_known_kinds_and_exercise_most():
    used = {k for split in ("train", "heldout", "follow") for r in _rows(split) for k in _kinds(r["constraint"])}
    assert used <= set(CONSTRAINT_KINDS)
    assert used == set(CONSTRAINT_KINDS)


def test_reference_responses_are_short():
    assert max(len(r["response"].split()) for r in _rows("train")) < 40


# (constraint, responses that pass, responses that fail): one case per kind
CASES = [
    (
        {"kind": "exact", "target": "THE CAT SAT."},
        ["THE CAT SAT.", "  THE CAT  SAT ", '"THE CAT SAT."'],
        ["the cat sat.", "THE CAT", "THE CAT SAT ON"],
    ),
    (
        {"kind": "exact", "target": "apple, pear", "ignore_case": True},
        ["Apple,pear", "apple , pear."],
        ["pear, apple", "apple pear"],
    ),
    (
        {"kind": "json_key", "key": "color"},
        ['{"color": "red"}', '```json\n{"color": 1}\n```'],
        ['{"colour": "red"}', "color: red", '["color"]', "{bad json"],
    ),
    ({"kind": "json_key", "key": "n", "value": 7}, ['{"n": 7}', ' {"n": 7, "x": 1} '], ['{"n": "7"}', '{"n": 8}']),
    (
        # a chat model's JSON in prose, and a value that names the target inside a phrase
        {"kind": "json_key", "key": "animal", "value": "owl"},
        ['Here it is:\n{"animal": "The quiet owl"}', '{"animal": "owl"} Hope this helps.'],
        ['{"animal": "The quiet owlet"}', '{"animal": "moose"}', '{"place": "owl"}'],
    ),
    (
        {"kind": "bullets_at_least", "n": 3},
        ["Here are three:\n- a\n- b\n- c", "* a\n* b\n* c\n* d"],
        ["- a\n- b", "1. a\n2. b\n3. c", "a, b, c"],
    ),
    ({"kind": "quoted"}, ['"A fox."', " \u201cA fox.\u201d "], ["A fox.", '"A fox." he said', '"']),
    ({"kind": "no_commas"}, ["A fox sat. It slept."], ["A fox, red, sat.", "One,"]),
    ({"kind": "min_words", "n": 3}, ["A red fox.", "one two three four"], ["A fox", "-- -- --", ""]),
    ({"kind": "mentions", "word": "fox", "n": 2}, ["A fox. Foxes run.", "fox fox"], ["A fox.", "foxglove fox"]),
    (
        {"kind": "bullets", "n": 3},
        ["- a\n- b\n- c", "* a\n\n* b\n* c\n"],
        ["- a\n- b", "- a\n- b\n- c\n- d", "Here:\n- a\n- b\n- c", "a\nb\nc", "-a\n-b\n-c"],
    ),
    (
        {"kind": "includes", "words": ["fox", "river"]},
        # plurals count, as in IFEval's keyword check: "owls" answers "a sentence with owl"
        ["The Fox swam in the river.", "river fox", "The foxes swam in the rivers."],
        ["The fox swam.", "The foxglove grew by the riverbank."],
    ),
    ({"kind": "excludes", "words": ["red"]}, ["A blue kite.", "A reddish kite."], ["A red kite.", "RED kite"]),
    (
        {"kind": "ends_with", "phrase": "That is all."},
        ["Done.  That is all.  ", "That   is all."],
        ["That is all. Bye.", "Done. that is all.", "Done. That is all"],
    ),
    ({"kind": "starts_with", "phrase": "Answer:"}, [" Answer: fox", "Answer:fox"], ["The answer: fox", "answer: fox"]),
    ({"kind": "uppercase"}, ["FOX", "HELLO, WORLD 42!"], ["Fox", "fox", "123", ""]),
    ({"kind": "lowercase"}, ["fox", "hello, world 42!"], ["Fox", "FOX", "..."]),
    ({"kind": "max_words", "n": 3}, ["A fox.", "one two three"], ["one two three four", "", " - "]),
    ({"kind": "word_count", "n": 4}, ["The fox looks calm.", "a b c d"], ["The fox looks.", "a b c d e"]),
    (
        {"kind": "all", "of": [{"kind": "uppercase"}, {"kind": "includes", "words": ["fox"]}]},
        ["FOX", "A FOX."],
        ["fox", "CAT"],
    ),
]


def test_cases_cover_every_kind():
    assert {c["kind"] for c, _, _ in CASES} == set(CONSTRAINT_KINDS)


@pytest.mark.parametrize("constraint,good,bad", CASES, ids=[c["kind"] for c, _, _ in CASES])
def test_good_pass_and_wrong_fail(constraint, good, bad):
    assert [g for g in good if not check(g, constraint)] == []
    assert [b for b in bad if check(b, constraint)] == []


def test_unknown_kind_raises_naming_allowed_kinds():
    with pytest.raises(ValueError, match="allowed: exact, json_key"):
        check("x", {"kind": "rhymes"})
    with pytest.raises(ValueError, match="unknown"):
        check("x", {})


def test_missing_field_raises():
    with pytest.raises(ValueError, match="target"):
        check("x", {"kind": "exact"})

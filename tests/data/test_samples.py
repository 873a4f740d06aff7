"""The committed sample data: replay text and generated instruction rows."""

import importlib.util
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

DATA = Path(__file__).resolve().parents[2] / "data"
REPLAY, INSTRUCT = DATA / "replay", DATA / "instruct"


def _jsonl(path):
    with path.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f]


def _generator():
    spec = importlib.util.spec_from_file_location("instruct_generate", INSTRUCT / "generate.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


# ---------------------------------------------------------------- replay
@pytest.fixture(scope="module")
def replay():
    return {s: _jsonl(REPLAY / f"{s}.jsonl") for s in ("train", "heldout")}


def test_replay_rows_have_the_schema(replay):
    for rows in replay.values():
        assert rows
        for r in rows:
            assert set(r) == {"id", "text", "source"}
            assert all(isinstance(r[k], str) and r[k] for k in r)
            assert 500 <= len(r["text"]) <= 3000
            assert r["source"] in {"sqlite3-doc", "dict-jargon", "dict-devil"}


def test_replay_fits_the_size_budget():
    total = sum((REPLAY / f"{s}.jsonl").stat().st_size for s in ("train", "heldout"))
    assert 1_000_000 < total <= 5_000_000


def test_replay_split_is_disjoint_and_about_five_percent(replay):
    train_ids = [r["id"] for r in replay["train"]]
    held_ids = [r["id"] for r in replay["heldout"]]
    assert len(set(train_ids)) == len(train_ids) and len(set(held_ids)) == len(held_ids)
    assert not set(train_ids) & set(held_ids)
    assert 0.02 < len(held_ids) / (len(train_ids) + len(held_ids)) < 0.1
    assert not {r["text"] for r in replay["train"]} & {r["text"] for r in replay["heldout"]}


def test_replay_text_has_no_markup(replay):
    for r in replay["train"][:200]:
        assert not re.search(r"</?[a-z]+[ >]|&[a-z]+;|https?://", r["text"]), r["id"]


# ---------------------------------------------------------------- instruct
@pytest.fixture(scope="module")
def instruct():
    return {s: _jsonl(INSTRUCT / f"{s}.jsonl") for s in ("train", "heldout")}


def test_instruct_rows_have_the_schema(instruct):
    assert len(instruct["heldout"]) < len(instruct["train"])  # a small held-out split beside the train rows
    for split, rows in instruct.items():
        ids = [r["id"] for r in rows]
        assert rows and len(set(ids)) == len(ids)
        assert len({r["instruction"] for r in rows}) == len(rows)  # no row repeated under another id
        for r in rows:
            assert set(r) == {"id", "instruction", "response", "constraint"}
            assert r["id"].startswith(split + "/")
            assert isinstance(r["constraint"], dict) and "kind" in r["constraint"]


def _tokens(text):
    return set(re.findall(r"[a-z]+", text.lower()))


def test_heldout_instruct_inputs_never_appear_in_train(instruct):
    gen = _generator()
    train_v, held_v = gen.vocab("train"), gen.vocab("heldout")
    phrase_cats = {"closing", "opening"}
    held_words = {w.lower() for c, ws in held_v.items() if c not in phrase_cats for w in ws}
    train_words = {w.lower() for c, ws in train_v.items() if c not in phrase_cats for w in ws}
    assert held_words and not held_words & train_words
    for r in instruct["train"]:
        assert not _tokens(r["instruction"]) & held_words, r["id"]
    for r in instruct["heldout"]:
        toks = _tokens(r["instruction"])
        assert toks & held_words and not toks & train_words, r["id"]

    # ends_with / starts_with phrases are inputs too
    def phrases(rows):
        out = set()
        for r in rows:
            for c in [r["constraint"], *r["constraint"].get("of", [])]:
                if "phrase" in c:
                    out.add(c["phrase"])
        return out

    assert phrases(instruct["heldout"]) and not phrases(instruct["heldout"]) & phrases(instruct["train"])
    assert not {r["instruction"] for r in instruct["heldout"]} & {r["instruction"] for r in instruct["train"]}


def test_generate_is_deterministic(tmp_path):
    subprocess.run(
        [sys.executable, str(INSTRUCT / "generate.py"), "--out", str(tmp_path)], check=True, capture_output=True
    )
    for name in ("train.jsonl", "heldout.jsonl"):
        assert (tmp_path / name).read_bytes() == (INSTRUCT / name).read_bytes(), name

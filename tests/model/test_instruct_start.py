"""The "instruct" scratch start: per-batch padded answer-only rows, fresh-word rows, copy rows, a tiny build."""

import copy
import json
import math

import numpy as np
import pytest
import yaml
from transformers import AutoModelForCausalLM, AutoTokenizer

from cptpipe.data.sources import read_instruct, read_replay
from cptpipe.errors import ParamsError
from cptpipe.model.prepare import build_start, copy_pairs, fresh_words, instruction_pairs, replay_rows, word_pool
from cptpipe.model.tokenizer import build_tokenizer
from cptpipe.params import Params, parse_params
from cptpipe.prompts import format_answer, format_prompt
from tests.helpers import ROOT, replay_texts

ROWS = read_instruct(ROOT / "data/instruct", "train")[:60]


def test_fresh_words_swap_copied_words_consistently_keeping_length_first_letter_and_case():
    pool, common = word_pool(replay_texts(200))
    rng = np.random.default_rng(0)
    ins, resp = fresh_words(
        "Using only uppercase letters, name the animal in: Tara followed the quiet moose.", "MOOSE", pool, common, rng
    )
    new = resp.lower()
    assert resp.isupper() and new != "moose" and len(new) == 5 and new[0] == "m"
    assert ins == f"Using only uppercase letters, name the animal in: Tara followed the quiet {new}."
    ins, resp = fresh_words('Say "island" exactly five times.', "island island island island island", pool, common, rng)
    word = resp.split()[0]
    assert resp == " ".join([word] * 5) and ins == f'Say "{word}" exactly five times.' and word != "island"
    untouched = ('Count the letters in "ladder".', "6")  # the answer copies no word
    assert fresh_words(*untouched, pool, common, rng) == untouched


def test_instruction_pairs_repeat_rows_per_epoch_and_fresh_share_zero_keeps_them():
    prompts, answers = instruction_pairs(ROWS, 2, 0.0, [], seed=0)
    assert prompts == [format_prompt(r["instruction"]) for r in ROWS] * 2
    assert answers == [format_answer(r["response"]) for r in ROWS] * 2
    fresh, _ = instruction_pairs(ROWS, 1, 1.0, replay_texts(200), seed=0)
    assert sum(a != b for a, b in zip(fresh, prompts)) > len(ROWS) // 2


def test_copy_pairs_answer_is_the_span_of_the_question():
    prompts, answers = copy_pairs(replay_texts(50), 20, seed=0, max_words=5)
    for p, a in zip(prompts, answers):
        assert p == format_prompt(f"Repeat exactly: {a[1:]}") and 1 <= len(a.split()) <= 5


def test_replay_rows_are_windows_of_the_pretraining_blocks_with_loss_everywhere():
    blocks = np.arange(4 * 64).reshape(4, 64)
    rows = replay_rows(blocks, 30, 32, seed=0)
    assert len(rows) == 30
    for ids, mask in rows:
        assert len(ids) == 32 and mask == [1] * 32
        assert ids == list(range(ids[0], ids[0] + 32)) and ids[0] // 64 == ids[-1] // 64  # inside one block


@pytest.fixture()
def small_data(tmp_path):
    replay, instruct = tmp_path / "replay", tmp_path / "instruct"
    replay.mkdir()
    instruct.mkdir()
    rows = read_replay(ROOT / "data/replay", "train")[:80]
    (replay / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (instruct / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in ROWS))
    return replay, instruct


def _params(instruct_tune: bool) -> Params:
    p = Params()
    sc = p.model.scratch
    sc.vocab_size, sc.hidden_size, sc.layers, sc.heads, sc.context = 600, 32, 2, 2, 64
    sc.pretrain_tokens, sc.instruct_tune = 4096, instruct_tune
    sc.instruct_copy_rows, sc.instruct_epochs, sc.instruct_fresh_words, sc.instruct_replay = 40, 2, 0.5, 0.2
    sc.instruct_batch_size = 8
    return p


def test_tiny_instruct_start_tunes_copy_and_instruction_rows_in_one_phase(small_data, tmp_path):
    replay, instruct = small_data
    (tmp_path / "start_base").mkdir()
    base = build_start(_params(False), replay, instruct, tmp_path / "start_base")
    out = tmp_path / "start_instruct"
    out.mkdir()
    s = build_start(_params(True), replay, instruct, out)
    assert s["kind"] == "instruct"
    assert [ph["name"] for ph in s["phases"]] == ["pretrain", "instruct_tune"]
    assert s["phases"][0] == base["phases"][0]  # the same pretraining as the base start
    with_replay = lambda n: n + round(n * 0.2 / 0.8)  # noqa: E731 - pairs plus a 0.2 share of replay rows
    assert s["phases"][1]["steps"] == math.ceil(with_replay(40 + 2 * len(ROWS)) / 8)  # instruct_batch_size
    assert json.loads((out / "START.json").read_text())["kind"] == "instruct"
    assert "seconds" not in json.loads((tmp_path / "start_base/START.json").read_text())
    AutoModelForCausalLM.from_pretrained(out)
    # the tokenizer is fitted to the replay text alone: the instruction rows' words get no pieces of
    # their own that held-out instruction words would lack
    base_params = _params(False)
    texts = [r["text"] for r in read_replay(replay, "train")]
    replay_only = build_tokenizer(texts, base_params.model.scratch.vocab_size, base_params.seed)
    for start in (out, tmp_path / "start_base"):
        assert AutoTokenizer.from_pretrained(start).get_vocab() == replay_only.get_vocab()


def test_bad_instruct_tuning_params_are_all_reported():
    raw = yaml.safe_load((ROOT / "params.yaml").read_text())
    bad = copy.deepcopy(raw)
    bad["model"]["scratch"].update(
        instruct_epochs=0,
        instruct_copy_rows=-1,
        instruct_lr=-0.1,
        instruct_fresh_words=1.5,
        instruct_replay=1.0,
        instruct_batch_size=0,
    )
    with pytest.raises(ParamsError) as e:
        parse_params(bad)
    keys = [
        "instruct_epochs",
        "instruct_copy_rows",
        "instruct_lr",
        "instruct_fresh_words",
        "instruct_replay",
        "instruct_batch_size",
    ]
    assert all(any(f"model.scratch.{k}" in p for p in e.value.problems) for k in keys)
    assert parse_params(raw).model.scratch.instruct_epochs >= 1

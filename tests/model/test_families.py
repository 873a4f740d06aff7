"""Tiny random GPT-2, Qwen2 and Llama (66k vocab) checkpoints: tokenizers, token arrays, chat-template rows."""

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from families import FAMILIES, ROUND_TRIP, build_family  # noqa: E402

from cptpipe.data.encode import tokenize_source  # noqa: E402
from cptpipe.data.tokens import TokenSource  # noqa: E402
from cptpipe.model.start import load_tokenizer, start_tokenizer  # noqa: E402
from cptpipe.prompts import end_of_turn_id, format_prompt, stop_sequences  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def family_dirs(tmp_path_factory):
    base = tmp_path_factory.mktemp("families")
    return {f: build_family(f, base / f) for f in FAMILIES}


@pytest.mark.parametrize("family", FAMILIES)
def test_family_loads_with_auto_classes_and_round_trips_text(family_dirs, family):
    from transformers import AutoConfig, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(family_dirs[family])
    assert AutoConfig.from_pretrained(family_dirs[family]).model_type == family
    assert tok.decode(tok(ROUND_TRIP, add_special_tokens=False)["input_ids"]) == ROUND_TRIP


def test_family_quirks(family_dirs):
    gpt2, qwen2, llama = (start_tokenizer(family_dirs[f]) for f in FAMILIES)
    assert gpt2.pad_token is None and gpt2.bos_token == gpt2.eos_token == "<|endoftext|>" and not gpt2.chat_template
    assert load_tokenizer(family_dirs["gpt2"]).pad_token == "<|endoftext|>"  # batching pads with EOS
    assert qwen2.bos_token is None and qwen2.eos_token == "<|im_end|>" and qwen2.pad_token != qwen2.eos_token
    assert "<|im_start|>" in qwen2.chat_template
    assert len(llama) == 66_000 and max(llama(ROUND_TRIP)["input_ids"]) > 65_535


def test_chat_answers_end_with_the_templates_end_of_turn(family_dirs):
    qwen2, gpt2 = start_tokenizer(family_dirs["qwen2"]), start_tokenizer(family_dirs["gpt2"])
    assert qwen2.convert_ids_to_tokens(end_of_turn_id(qwen2)) == "<|im_end|>"
    assert end_of_turn_id(gpt2) == gpt2.eos_token_id
    assert "<|im_end|>" in stop_sequences(qwen2) and stop_sequences(gpt2) == stop_sequences()
    assert format_prompt("Who?", qwen2) == "<|im_start|>user\nWho?<|im_end|>\n<|im_start|>assistant\n"


def test_qa_rows_are_inside_the_chat_template(family_dirs, tmp_path):
    tok = load_tokenizer(family_dirs["qwen2"])
    meta = tokenize_source("instruct", tok, ROOT / "data/instruct", tmp_path)
    src = TokenSource(tmp_path)
    rows = src.row_arrays()
    for o, n in list(zip(rows["offset"], rows["length"]))[:5]:
        ids, mask = src.tokens[o : o + n].tolist(), src.mask[o : o + n]
        text = tok.decode(ids)
        assert text.startswith("<|im_start|>user\n") and "<|im_end|>\n<|im_start|>assistant\n" in text
        assert ids[-1] == tok.convert_tokens_to_ids("<|im_end|>") and mask[-1] == 1
        assert text.endswith("<|im_end|>") and text.count("<|im_end|>") == 2
    assert meta["dtype"] == "uint16"


def test_big_vocab_ids_survive_tokenizing_as_uint32(family_dirs, tmp_path):
    tok = load_tokenizer(family_dirs["llama"])
    meta = tokenize_source("instruct", tok, ROOT / "data/instruct", tmp_path)
    tokens = np.load(tmp_path / "tokens.npy")
    assert meta["dtype"] == "uint32" and tokens.dtype == np.uint32 and int(tokens.max()) > 65_535
    first = TokenSource(tmp_path).row_arrays()
    o, n = int(first["offset"][0]), int(first["length"][0])
    assert tok.decode(tokens[o : o + n - 1].tolist()).startswith("Question: ")

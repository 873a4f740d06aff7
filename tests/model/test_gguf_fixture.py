"""The GGUF fixture loads back through transformers as the model and tokenizer it was written from."""

import copy

import gguf
import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from tests.model.gguf_fixture import CORPUS, QUANT_TYPES, write_tiny_gguf

SENTENCE = "The children walked to the old mill in the rain."

# Q8_0 stores each weight as an int8 step of its 32-weight block's max/127. Measured on the fixture's
# logits (|logit| up to ~3.9): 0.077 for seed 0, at most 0.147 over seeds 0-7 and two texts. Errors of
# real kinds sit far above: 4-bit blocks 1.28-2.35, unpermuted Q/K 1.7-4.0. 0.3 is ~4x over seed 0's
# noise and ~4x under the nearest of those, so it passes Q8_0 and fails a layout or encoding mistake.
Q8_0_ATOL = 0.3

METADATA_KEYS = {
    "general.architecture",
    "general.name",
    "llama.block_count",
    "llama.context_length",
    "llama.embedding_length",
    "llama.feed_forward_length",
    "llama.attention.head_count",
    "llama.attention.head_count_kv",
    "llama.rope.freq_base",
    "llama.attention.layer_norm_rms_epsilon",
    "general.file_type",
    "llama.vocab_size",
    "llama.rope.dimension_count",
    "tokenizer.ggml.add_space_prefix",
    "tokenizer.ggml.add_bos_token",
    "tokenizer.ggml.model",
    "tokenizer.ggml.pre",
    "tokenizer.ggml.tokens",
    "tokenizer.ggml.token_type",
    "tokenizer.ggml.merges",
    "tokenizer.ggml.bos_token_id",
    "tokenizer.ggml.eos_token_id",
    "tokenizer.ggml.unknown_token_id",
    "tokenizer.ggml.padding_token_id",
    "tokenizer.chat_template",
    "general.quantization_version",
}

BLOCK_TENSORS = ("attn_norm", "ffn_down", "ffn_gate", "ffn_up", "ffn_norm", "attn_k", "attn_output", "attn_q", "attn_v")


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    """One GGUF per quant type, each in its own folder, with the source model and tokenizer."""
    out = {}
    for quant in QUANT_TYPES:
        path = tmp_path_factory.mktemp(quant) / f"tiny-{quant}.gguf"
        out[quant] = (path, *write_tiny_gguf(path, quant))
    return out


def load_model(path):
    """The GGUF's model, dequantized to float32 by transformers."""
    return AutoModelForCausalLM.from_pretrained(path.parent, gguf_file=path.name, dtype=torch.float32).eval()


def logits(model, tokenizer, text=SENTENCE):
    """Logits for `text`, without gradients."""
    ids = tokenizer(text, return_tensors="pt").input_ids
    with torch.no_grad():
        return model(ids).logits


def round_tripped(model, quant):
    """A copy of `model` whose matrices went through gguf's own quantize and dequantize."""
    qtype = QUANT_TYPES[quant][0]
    copied = copy.deepcopy(model)
    with torch.no_grad():
        for param in copied.parameters():
            if param.ndim == 2:
                blocks = gguf.quants.quantize(param.numpy(), qtype)
                param.copy_(torch.from_numpy(gguf.quants.dequantize(blocks, qtype)))
    return copied


def test_f32_gguf_loads_with_the_source_logits(written):
    path, model, tokenizer = written["F32"]
    loaded = load_model(path)
    assert loaded.config.tie_word_embeddings and loaded.config.num_key_value_heads == 2
    assert torch.allclose(logits(loaded, tokenizer), logits(model, tokenizer), atol=1e-5)


def test_q8_0_logits_stay_within_quantization_error(written):
    path, model, tokenizer = written["Q8_0"]
    diff = (logits(load_model(path), tokenizer) - logits(model, tokenizer)).abs().max().item()
    # Nonzero: the matrices really were quantized, not written as floats.
    assert 0 < diff < Q8_0_ATOL


@pytest.mark.parametrize("quant", ["Q8_0", "Q4_0", "Q4_1"])
def test_quantized_gguf_equals_the_source_with_round_tripped_weights(written, quant):
    # Quantization noise aside, layout must be exact: Q/K permutation, names, tying.
    path, model, tokenizer = written[quant]
    expected = logits(round_tripped(model, quant), tokenizer, " ".join(CORPUS))
    assert torch.allclose(logits(load_model(path), tokenizer, " ".join(CORPUS)), expected, atol=1e-5)


def test_gguf_tokenizer_matches_the_source_tokenizer(written):
    path, _, source = written["Q8_0"]
    tok = AutoTokenizer.from_pretrained(path.parent, gguf_file=path.name)
    ids = tok(SENTENCE)["input_ids"]
    assert ids == source(SENTENCE)["input_ids"]
    assert tok.decode(ids) == SENTENCE
    assert (tok.unk_token, tok.bos_token, tok.eos_token, tok.pad_token) == (
        "<|endoftext|>",
        "<|im_start|>",
        "<|im_end|>",
        "<|im_end|>",
    )


def test_gguf_tokenizer_carries_the_chatml_template(written):
    path, _, source = written["Q8_0"]
    tok = AutoTokenizer.from_pretrained(path.parent, gguf_file=path.name)
    messages = [{"role": "user", "content": "Where is the mill?"}]
    text = tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    assert tok.chat_template == source.chat_template
    assert text == "<|im_start|>user\nWhere is the mill?<|im_end|>\n<|im_start|>assistant\n"
    # The special tokens must stay whole, as the ids 1 and 2 the metadata names.
    ids = tok(text)["input_ids"]
    assert ids == source(text)["input_ids"] and ids[0] == 1 and ids.count(2) == 1


@pytest.mark.parametrize("quant", ["F32", "Q8_0"])
def test_file_has_the_keys_and_tensors_llama_cpp_writes(written, quant):
    path, model, _ = written[quant]
    reader = gguf.GGUFReader(path)
    assert {key for key in reader.fields if not key.startswith("GGUF.")} == METADATA_KEYS
    field = lambda key: reader.fields[key].contents()  # noqa: E731
    assert (field("tokenizer.ggml.model"), field("tokenizer.ggml.pre")) == ("gpt2", "smollm")
    assert field("tokenizer.ggml.token_type")[:4] == [3, 3, 3, 1]
    assert field("llama.vocab_size") == len(field("tokenizer.ggml.tokens")) == model.config.vocab_size
    assert field("general.file_type") == QUANT_TYPES[quant][1]
    expected = {"token_embd.weight", "output_norm.weight"} | {
        f"blk.{i}.{name}.weight" for i in range(2) for name in BLOCK_TENSORS
    }
    types = {t.name: t.tensor_type for t in reader.tensors}
    assert set(types) == expected  # tied: no output.weight
    for name, tensor_type in types.items():
        want = gguf.GGMLQuantizationType.F32 if "norm" in name else QUANT_TYPES[quant][0]
        assert tensor_type == want, name


def test_same_seed_writes_the_same_bytes(tmp_path):
    first, second, other = tmp_path / "a.gguf", tmp_path / "b.gguf", tmp_path / "c.gguf"
    write_tiny_gguf(first, seed=3)
    write_tiny_gguf(second, seed=3)
    write_tiny_gguf(other, seed=4)
    assert first.read_bytes() == second.read_bytes() != other.read_bytes()


def test_unknown_quant_is_refused(tmp_path):
    with pytest.raises(ValueError, match="quant must be one of"):
        write_tiny_gguf(tmp_path / "x.gguf", quant="Q9_9")
    assert not (tmp_path / "x.gguf").exists()

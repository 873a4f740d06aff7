"""The model's real context vs tokenize.seq_len / eval.passkey_lengths, and the RAM refusal before loading."""

import pytest
from transformers import GPT2Config, LlamaConfig

from cptpipe.errors import UserError
from cptpipe.model.context import already_scaled, check_context, config_context, context_problems, uses_rope
from cptpipe.model.start import check_fits, load_model, weights_bytes

LLAMA = dict(vocab_size=100, hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2)


def test_context_comes_from_n_positions_or_max_position_embeddings():
    gpt2 = GPT2Config(n_positions=128, n_embd=16, n_layer=1, n_head=2)
    assert config_context(gpt2) == (128, "max_position_embeddings")  # GPT-2 maps the name onto n_positions
    assert not uses_rope(gpt2)
    llama = LlamaConfig(max_position_embeddings=256, **LLAMA)
    assert config_context(llama) == (256, "max_position_embeddings") and uses_rope(llama)
    assert not already_scaled(llama)


def test_seq_len_and_passkeys_past_the_context_name_both_numbers_and_keys():
    gpt2 = GPT2Config(n_positions=128, n_embd=16, n_layer=1, n_head=2)
    assert context_problems(gpt2, seq_len=128, passkey_lengths=[64]) == []
    with pytest.raises(UserError) as e:
        check_context(gpt2, seq_len=512, passkey_lengths=[100, 1024])
    msg = str(e.value)
    assert "tokenize.seq_len: 512" in msg and "context 128" in msg and "eval.passkey_lengths: [1024]" in msg
    assert "rope_scaling: {" not in msg  # learned positions cannot be scaled: no such advice
    with pytest.raises(UserError, match="model.rope_scaling: gpt2 has learned absolute position embeddings"):
        check_context(gpt2, seq_len=128, rope_factor=2.0)


def test_rope_scaling_raises_the_limit_by_its_factor():
    llama = LlamaConfig(max_position_embeddings=256, **LLAMA)
    assert context_problems(llama, seq_len=1024, passkey_lengths=[1024], rope_factor=4.0) == []
    problems = context_problems(llama, seq_len=1025, rope_factor=4.0)
    assert len(problems) == 1 and "1025" in problems[0] and "1024" in problems[0]
    assert "model.rope_scaling.factor=4" in problems[0]
    assert "factor: 4}" in context_problems(llama, seq_len=1000)[0]  # the advice names a factor that fits


def test_weights_that_do_not_fit_in_ram_are_refused_before_loading(tmp_path):
    import torch
    from transformers import LlamaForCausalLM

    config = LlamaConfig(max_position_embeddings=64, **LLAMA)
    LlamaForCausalLM(config).save_pretrained(tmp_path)
    need = weights_bytes(config)
    assert need == 4 * sum(p.numel() for p in LlamaForCausalLM(config).parameters())
    assert check_fits(config, "x", available=need) == need
    with pytest.raises(UserError, match=r"needs [0-9.]+ KiB for its weights at 32 bits, but only [0-9.]+ KiB of RAM"):
        load_model(tmp_path, available=need - 1)
    assert load_model(tmp_path, available=need).dtype == torch.float32
    assert load_model(tmp_path, dtype=torch.bfloat16, available=need // 2).dtype == torch.bfloat16

"""Build the embedded default: a tiny Llama config and its initial weights (pretrained in model/pretrain.py)."""

from __future__ import annotations

import torch
from transformers import GenerationConfig, LlamaConfig, LlamaForCausalLM

from cptpipe.params import ScratchParams


def scratch_config(p: ScratchParams, tokenizer) -> LlamaConfig:
    # Llama's MLP is ~8/3 of the width; rounded to a multiple of 32 for fast matmuls
    inter = max(32, int(round(p.hidden_size * 8 / 3 / 32)) * 32)
    return LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=p.hidden_size,
        intermediate_size=inter,
        num_hidden_layers=p.layers,
        num_attention_heads=p.heads,
        num_key_value_heads=p.heads,
        max_position_embeddings=p.context,
        rope_theta=10000.0,
        tie_word_embeddings=True,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        attention_dropout=0.0,
    )


def apply_rope_scaling(config, rope) -> None:
    """Context extension (YaRN, Peng et al. 2023): scale RoPE by rope.factor over the trained context.

    The config's max_position_embeddings (the context the model was trained at) becomes the
    original context of the scaling; the new context is factor times longer. Applied to the start
    model at train time, so `models/start` (and eval@start) stay the unscaled model.
    """
    original = config.max_position_embeddings
    base = dict(getattr(config, "rope_parameters", None) or {})
    theta = base.get("rope_theta", getattr(config, "rope_theta", 10000.0))
    config.rope_parameters = {
        "rope_type": rope.type,
        "factor": float(rope.factor),
        "rope_theta": theta,
        "original_max_position_embeddings": original,
    }
    config.max_position_embeddings = int(original * rope.factor)


def build_scratch_model(p: ScratchParams, tokenizer, seed: int) -> LlamaForCausalLM:
    torch.manual_seed(seed)
    model = LlamaForCausalLM(scratch_config(p, tokenizer))
    model.generation_config = GenerationConfig(
        do_sample=False,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id,
    )
    return model

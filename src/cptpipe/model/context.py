"""A model's real context and the params that must fit in it (tokenize.seq_len, eval.passkey_lengths).

Learned absolute position embeddings (GPT-2, OPT) raise IndexError at position n_positions and
cannot be stretched; RoPE models accept any position silently and degrade past their trained
context, so both are checked before any work, against the context times the rope scaling factor
where the family has RoPE.
"""

from __future__ import annotations

import math

from cptpipe.errors import UserError

# config attribute holding the trained context, in the order transformers' families use them
CONTEXT_KEYS = ("max_position_embeddings", "n_positions", "max_sequence_length", "seq_length", "n_ctx")


def config_context(config) -> tuple[int, str] | None:
    """(trained context, the config key it came from), or None when the config states none."""
    for key in CONTEXT_KEYS:
        value = getattr(config, key, None)
        if isinstance(value, int) and value > 0:
            return value, key
    return None


def uses_rope(config) -> bool:
    """Rotary position embeddings: transformers 5 configs carry rope_parameters (older ones rope_theta)."""
    return getattr(config, "rope_parameters", None) is not None or getattr(config, "rope_theta", None) is not None


def already_scaled(config) -> bool:
    """A config whose RoPE is scaled already (a trained context extension, or Llama-3.1's llama3 rope):
    its max_position_embeddings is the extended context."""
    rope = getattr(config, "rope_parameters", None) or {}
    return bool(rope.get("original_max_position_embeddings")) and rope.get("rope_type") not in (None, "default")


def context_problems(
    config, *, seq_len: int | None, passkey_lengths: list[int] | tuple[int, ...] = (), rope_factor: float | None = None
) -> list[str]:
    """Problems of seq_len and passkey lengths against the model's context (x rope_factor on RoPE models)."""
    found = config_context(config)
    if found is None:
        return []
    context, key = found
    family = getattr(config, "model_type", "the model")
    problems = []
    if rope_factor is not None and not uses_rope(config):
        problems.append(
            f"model.rope_scaling: {family} has learned absolute position embeddings (config {key}="
            f"{context}), not RoPE, so its context cannot be scaled; set model.rope_scaling: null"
        )
        rope_factor = None
    limit = int(context * rope_factor) if rope_factor else context
    where = f"the model context {limit} ({family} config {key}={context}"
    where += f" x model.rope_scaling.factor={rope_factor:g})" if rope_factor else ")"
    longest = max([seq_len or 0, *passkey_lengths])
    fix = ""
    if uses_rope(config):
        fix = f", or set model.rope_scaling: {{type: yarn, factor: {math.ceil(longest / context)}}}"
    if seq_len is not None and seq_len > limit:
        problems.append(
            f"tokenize.seq_len: {seq_len} is larger than {where}; lower tokenize.seq_len to <= {limit}{fix}"
        )
    too_long = [n for n in passkey_lengths if n > limit]
    if too_long:
        problems.append(
            f"eval.passkey_lengths: {too_long} larger than {where}; drop them or lower them to <= {limit}{fix}"
        )
    return problems


def check_context(config, *, seq_len: int | None, passkey_lengths=(), rope_factor: float | None = None) -> None:
    """Raise one UserError listing every context problem (see context_problems)."""
    problems = context_problems(config, seq_len=seq_len, passkey_lengths=passkey_lengths, rope_factor=rope_factor)
    if problems:
        raise UserError("params.yaml: the start model's context: " + "; ".join(problems))

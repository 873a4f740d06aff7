"""qa.generator: hf — a local or hub causal LM writes the pairs, with batched greedy generation.

Left padding so every row of a batch ends where generation starts; the tokenizer's chat template
when it has one (instruct models answer the JSON request far better that way); bf16 on a CUDA
GPU, fp32 on CPU. Documents are cut to fit the model's context together with the reply budget.
"""

from __future__ import annotations

from collections.abc import Callable

from cptpipe.errors import UserError
from cptpipe.prompts import has_chat_template

PLAIN_SUFFIX = "\n\nJSON:\n"  # where a base model without a chat template starts its reply


def load(name_or_path: str):
    """(model, tokenizer, device) ready for batched generation."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    cuda = torch.cuda.is_available()
    try:
        tok = AutoTokenizer.from_pretrained(name_or_path)
        model = AutoModelForCausalLM.from_pretrained(name_or_path, dtype=torch.bfloat16 if cuda else torch.float32)
    except (OSError, ValueError) as e:
        raise UserError(
            f"qa.model: cannot load {name_or_path!r} ({type(e).__name__}); give a local "
            "save_pretrained directory or a hub id (offline: the hub id must be cached)"
        ) from None
    tok.padding_side = "left"
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    device = "cuda" if cuda else "cpu"
    return model.to(device).eval(), tok, device


def context_of(model, tok) -> int:
    n = getattr(model.config, "max_position_embeddings", None) or getattr(tok, "model_max_length", 2048)
    return int(min(n, 32_768))


def chat_text(prompt: str, tok) -> str:
    if has_chat_template(tok):
        return tok.apply_chat_template(
            [{"role": "user", "content": prompt}], tokenize=False, add_generation_prompt=True
        )
    return prompt + PLAIN_SUFFIX


def fit_document(build: Callable[[str], str], document: str, tok, budget: int) -> str:
    """The prompt with the document cut (by tokens) so the whole prompt fits `budget` tokens."""
    overhead = len(tok(build(""), add_special_tokens=False).input_ids)
    room = budget - overhead
    ids = tok(document, add_special_tokens=False).input_ids
    return build(tok.decode(ids[: max(0, room)]) if room < len(ids) else document)


def generate(model, tok, device: str, texts: list[str], max_new_tokens: int, max_prompt_tokens: int) -> list[str]:
    """Greedy completions of one batch of prompt texts (already chat-formatted)."""
    import torch

    tok.truncation_side = "left"  # a last resort: instructions sit at the start, the JSON shape near the end
    enc = tok(
        texts,
        return_tensors="pt",
        padding=True,
        truncation=True,
        max_length=max_prompt_tokens,
        add_special_tokens=not has_chat_template(tok),
    ).to(device)
    with torch.inference_mode():
        out = model.generate(**enc, max_new_tokens=max_new_tokens, do_sample=False, pad_token_id=tok.pad_token_id)
    return tok.batch_decode(out[:, enc["input_ids"].shape[1] :], skip_special_tokens=True)

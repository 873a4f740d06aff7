"""Passkey retrieval (Mohtashami & Jaggi 2023): a number hidden at a random depth in filler text."""

from __future__ import annotations

import random

FILLER = "The grass is green. The sky is blue. The sun is yellow. Here we go. There and back again. "


def passkey_docs(tokenizer, lengths: list[int], samples: int, seed: int) -> list[dict]:
    """Prompts of about `length` tokens each, asking for a 5-digit key stated once inside."""
    rng = random.Random(seed)
    per_filler = max(1, len(tokenizer(FILLER, add_special_tokens=False)["input_ids"]))
    docs = []
    for length in lengths:
        n = max(1, (length - 40) // per_filler)
        for _ in range(samples):
            key = str(rng.randint(10000, 99999))
            depth = rng.randint(0, n)
            parts = [FILLER] * n
            parts.insert(depth, f"The pass key is {key}. Remember it. {key} is the pass key. ")
            prompt = (
                "There is a pass key hidden in the text below. Find it.\n"
                + "".join(parts)
                + "\nQuestion: What is the pass key?\nAnswer:"
            )
            docs.append({"length": length, "depth": round(depth / max(n, 1), 3), "prompt": prompt, "answer": key})
    return docs

"""The one prompt format shared by training data (QA, instructions) and evaluation.

A model with a chat template gets its template; otherwise the plain format
`Question: ...\nAnswer: ...` is used. Training and evaluation call the same functions, so a
model is always asked in the format it was trained on.
"""

from __future__ import annotations


def has_chat_template(tokenizer) -> bool:
    return bool(getattr(tokenizer, "chat_template", None))


def format_prompt(question: str, tokenizer=None) -> str:
    """The text before the answer, ending where generation starts."""
    if tokenizer is not None and has_chat_template(tokenizer):
        return tokenizer.apply_chat_template([{"role": "user", "content": question}],
                                             tokenize=False, add_generation_prompt=True)
    return f"Question: {question}\nAnswer:"


def format_answer(answer: str, tokenizer=None) -> str:
    """The answer continuation as it appears right after format_prompt()."""
    if tokenizer is not None and has_chat_template(tokenizer):
        return answer
    return f" {answer}"


def stop_sequences() -> list[str]:
    """Where greedy generation of an answer stops (the next turn of the plain format)."""
    return ["\n", "Question:"]

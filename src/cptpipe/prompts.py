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
        return tokenizer.apply_chat_template(
            [{"role": "user", "content": question}], tokenize=False, add_generation_prompt=True
        )
    return f"Question: {question}\nAnswer:"


def format_answer(answer: str, tokenizer=None) -> str:
    """The answer continuation as it appears right after format_prompt()."""
    if tokenizer is not None and has_chat_template(tokenizer):
        return answer
    return f" {answer}"


_SENTINEL = "cptpipe-answer-sentinel"


def end_of_turn_id(tokenizer) -> int:
    """The token that closes an answer in training rows: the chat template's end of turn, else EOS.

    ChatML closes a turn with <|im_end|>, Llama 3 with <|eot_id|>, Gemma with <end_of_turn>; rendering
    an assistant turn and taking the first token after its content finds it for any template. A chat
    model trained to end answers with it stops generating there, as its template expects.
    """
    if not has_chat_template(tokenizer):
        return tokenizer.eos_token_id
    turns = [{"role": "user", "content": "q"}, {"role": "assistant", "content": _SENTINEL}]
    text = tokenizer.apply_chat_template(turns, tokenize=False)
    tail = text.split(_SENTINEL, 1)[-1] if _SENTINEL in text else ""
    ids = tokenizer(tail, add_special_tokens=False)["input_ids"] if tail.strip() else []
    special = set(tokenizer.all_special_ids) | {i for i, t in tokenizer.added_tokens_decoder.items() if t.special}
    return ids[0] if ids and ids[0] in special else tokenizer.eos_token_id


def stop_sequences(tokenizer=None) -> list[str]:
    """Where greedy generation of an answer stops: the next turn of the plain format, and for a chat
    model also the end-of-turn token that training ends each answer with."""
    stops = ["\n", "Question:"]
    if tokenizer is not None and has_chat_template(tokenizer):
        eot = tokenizer.convert_ids_to_tokens(end_of_turn_id(tokenizer))
        if eot and eot not in stops:
            stops.append(eot)
    return stops

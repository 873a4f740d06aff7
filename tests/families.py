"""Tiny random models of three Hugging Face families, saved with save_pretrained into a directory.

Each has a tokenizer trained by the `tokenizers` library on the shipped replay text, wrapped as a
PreTrainedTokenizerFast, so the DAG sees what a user's own checkpoint looks like:

- gpt2: learned absolute positions (n_positions 128), byte-level BPE, no pad, bos == eos, no chat template;
- qwen2: ChatML chat template, no bos, eos <|im_end|>, pad <|endoftext|>, tied embeddings;
- llama: a vocabulary of 66,000 whose learned merges sit above id 65,535 (uint32 token arrays).
"""

from __future__ import annotations

from pathlib import Path

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers

ROOT = Path(__file__).resolve().parents[1]
FAMILIES = ("gpt2", "qwen2", "llama")
BPE_VOCAB = 1500  # learned pieces: small enough to train in ~1 s on the replay text
BIG_VOCAB = 66_000
CHATML = (
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)
ROUND_TRIP = "The harbour was rebuilt in 1911, and the new quay opened to ships the following spring."


def replay_texts() -> list[str]:
    from cptpipe.data.sources import read_replay

    return [r["text"] for r in read_replay(ROOT / "data/replay", "train")]


def byte_level_bpe(specials: list[str], vocab_size: int = BPE_VOCAB) -> Tokenizer:
    """A byte-level BPE (GPT-2's scheme) trained on the replay text, specials first (ids 0..)."""
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=specials,
        show_progress=False,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tok.train_from_iterator(replay_texts(), trainer)
    return tok


def shifted_bpe(tok: Tokenizer, specials: list[str], size: int) -> Tokenizer:
    """The same BPE with its learned pieces moved to the top of a `size` vocabulary.

    Specials keep ids 0.., unused filler pieces (never produced: no merge builds them) fill the middle,
    the byte alphabet ends just below 65,536 and every merge lies above it, so ordinary text uses ids
    that do not fit in uint16.
    """
    import json

    model = json.loads(tok.to_str())["model"]
    learned = [t for t, _ in sorted(model["vocab"].items(), key=lambda kv: kv[1]) if t not in specials]
    start = size - len(learned)
    vocab = {t: i for i, t in enumerate(specials)}
    vocab.update({f"<unused_{i}>": i for i in range(len(specials), start)})
    vocab.update({t: start + i for i, t in enumerate(learned)})
    merges = [tuple(m.split(" ")) if isinstance(m, str) else tuple(m) for m in model["merges"]]
    out = Tokenizer(models.BPE(vocab=vocab, merges=merges))
    out.add_special_tokens(specials)
    out.pre_tokenizer, out.decoder = tok.pre_tokenizer, tok.decoder
    return out


def build_tokenizer(family: str):
    from transformers import PreTrainedTokenizerFast

    if family == "gpt2":
        tok = byte_level_bpe(["<|endoftext|>"])
        return PreTrainedTokenizerFast(
            tokenizer_object=tok,
            bos_token="<|endoftext|>",
            eos_token="<|endoftext|>",
            unk_token="<|endoftext|>",
            model_max_length=128,
        )
    if family == "qwen2":
        tok = byte_level_bpe(["<|endoftext|>", "<|im_start|>", "<|im_end|>"])
        return PreTrainedTokenizerFast(
            tokenizer_object=tok,
            eos_token="<|im_end|>",
            pad_token="<|endoftext|>",
            chat_template=CHATML,
            model_max_length=256,
        )
    if family == "llama":
        specials = ["<unk>", "<s>", "</s>"]
        tok = shifted_bpe(byte_level_bpe(specials), specials, BIG_VOCAB)
        tok.post_processor = processors.TemplateProcessing(
            single="<s> $A", pair="<s> $A <s> $B", special_tokens=[("<s>", 1)]
        )
        return PreTrainedTokenizerFast(
            tokenizer_object=tok, bos_token="<s>", eos_token="</s>", unk_token="<unk>", model_max_length=256
        )
    raise ValueError(f"unknown family {family!r}; use one of {FAMILIES}")


def build_config(family: str, tok):
    from transformers import GPT2Config, LlamaConfig, Qwen2Config

    ids = {"bos_token_id": tok.bos_token_id, "eos_token_id": tok.eos_token_id, "pad_token_id": tok.pad_token_id}
    if family == "gpt2":
        return GPT2Config(vocab_size=len(tok), n_positions=128, n_embd=32, n_layer=2, n_head=2, **ids)
    if family == "qwen2":
        return Qwen2Config(
            vocab_size=len(tok),
            hidden_size=32,
            intermediate_size=64,
            num_hidden_layers=2,
            num_attention_heads=2,
            num_key_value_heads=1,
            max_position_embeddings=256,
            tie_word_embeddings=True,
            **ids,
        )
    return LlamaConfig(
        vocab_size=len(tok),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=2,
        max_position_embeddings=256,
        tie_word_embeddings=False,
        **ids,
    )


def build_family(family: str, out_dir: Path, seed: int = 0) -> Path:
    """A tiny random `family` model + its tokenizer, saved into out_dir (created)."""
    import torch
    from transformers import AutoModelForCausalLM

    tok = build_tokenizer(family)
    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_config(build_config(family, tok))
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out_dir, safe_serialization=True)
    tok.save_pretrained(out_dir)
    return out_dir

"""Train a sentencepiece tokenizer and save it as a fast HF tokenizer that round-trips text.

transformers 5's `LlamaTokenizer(vocab_file=sp.model)` encodes to empty ids, so the saved
tokenizer is built from the sentencepiece pieces and scores as a `tokenizers` Unigram model
with byte fallback: the same segmentation sentencepiece produces, loadable by AutoTokenizer.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterable
from pathlib import Path

import sentencepiece as spm
from tokenizers import Tokenizer, decoders, models, normalizers
from transformers import PreTrainedTokenizerFast

SPECIALS = {"pad_token": "<pad>", "unk_token": "<unk>", "bos_token": "<s>", "eos_token": "</s>"}


def train_sentencepiece(texts: Iterable[str], vocab_size: int, seed: int, workdir: Path) -> Path:
    """Train a unigram sentencepiece model on texts; returns the .model path."""
    corpus = workdir / "spm_corpus.txt"
    with open(corpus, "w", encoding="utf-8") as f:
        for t in texts:
            for line in t.split("\n"):
                if line.strip():
                    f.write(line.strip() + "\n")
    prefix = workdir / "spm"
    spm.set_random_generator_seed(seed + 1)  # sentence sampling is the only randomness
    spm.SentencePieceTrainer.train(
        input=str(corpus),
        model_prefix=str(prefix),
        vocab_size=vocab_size,
        model_type="unigram",
        byte_fallback=True,
        character_coverage=0.9995,
        split_digits=True,
        # identity: what the user wrote is what the model sees (no NFKC folding of domain terms)
        normalization_rule_name="identity",
        pad_id=0,
        unk_id=1,
        bos_id=2,
        eos_id=3,
        input_sentence_size=2_000_000,
        shuffle_input_sentence=True,
        hard_vocab_limit=False,
        num_threads=2,
        minloglevel=2,
    )
    return prefix.with_suffix(".model")


def hf_tokenizer_from_sentencepiece(model_file: Path) -> PreTrainedTokenizerFast:
    sp = spm.SentencePieceProcessor(model_file=str(model_file))
    vocab = [(sp.id_to_piece(i), sp.get_score(i)) for i in range(sp.get_piece_size())]
    tok = Tokenizer(models.Unigram(vocab, unk_id=sp.unk_id(), byte_fallback=True))
    tok.normalizer = normalizers.Sequence([normalizers.Prepend("▁"), normalizers.Replace(" ", "▁")])
    tok.decoder = decoders.Sequence(
        [
            decoders.Replace("▁", " "),
            decoders.ByteFallback(),
            decoders.Fuse(),
            decoders.Strip(" ", 1, 0),
        ]
    )
    hf = PreTrainedTokenizerFast(tokenizer_object=tok, **SPECIALS)
    hf.model_max_length = 1 << 30
    return hf


def build_tokenizer(texts: Iterable[str], vocab_size: int, seed: int) -> PreTrainedTokenizerFast:
    with tempfile.TemporaryDirectory() as d:
        return hf_tokenizer_from_sentencepiece(train_sentencepiece(texts, vocab_size, seed, Path(d)))


def check_round_trip(tokenizer, text: str) -> None:
    """Raise when the tokenizer cannot encode and decode real text (the transformers 5 trap)."""
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    back = tokenizer.decode(ids)
    if not ids or " ".join(back.split()) != " ".join(text.split()):
        raise RuntimeError(f"tokenizer does not round-trip: {len(ids)} ids, decoded {back[:80]!r}")

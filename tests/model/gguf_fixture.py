"""A tiny random Llama with a byte-level BPE tokenizer, written as a GGUF file the way llama.cpp writes one."""

import json
from pathlib import Path

import gguf
import numpy as np
import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

# Ids and spellings as in SmolLM2-Instruct: unknown 0, bos 1, eos and pad 2.
SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
UNK, BOS, EOS, PAD = 0, 1, 2, 2

CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)

CORPUS = [
    "The quick brown fox jumps over the lazy dog near the river bank.",
    "A small village sits at the foot of the mountain, where the old mill still turns.",
    "She opened the window and listened to the rain falling on the garden.",
    "Every morning the baker sells fresh bread, warm rolls and sweet cakes.",
    "The children walked to school along the quiet road beside the fields.",
    "He wrote a long letter to his sister, telling her about the new house.",
    "In the evening the lights of the city shine over the dark water.",
    "Good answers are short, clear and honest; the best ones are also kind.",
]

# 259 ids for the specials and bytes, 125 for merges: the corpus has enough pairs to fill all 384.
VOCAB_TARGET = 384

# Row widths are multiples of 32, so every 2-D weight splits into whole blocks of each type below.
QUANT_TYPES = {
    "F32": (gguf.GGMLQuantizationType.F32, gguf.LlamaFileType.ALL_F32),
    "Q8_0": (gguf.GGMLQuantizationType.Q8_0, gguf.LlamaFileType.MOSTLY_Q8_0),
    "Q4_0": (gguf.GGMLQuantizationType.Q4_0, gguf.LlamaFileType.MOSTLY_Q4_0),
    "Q4_1": (gguf.GGMLQuantizationType.Q4_1, gguf.LlamaFileType.MOSTLY_Q4_1),
}


def tiny_bpe_tokenizer() -> PreTrainedTokenizerFast:
    """A gpt2-style byte-level BPE trained on CORPUS, with ChatML special tokens and template."""
    tok = Tokenizer(models.BPE())
    # No prefix space: transformers rebuilds a `gpt2` GGUF vocabulary with GPT2Tokenizer, which adds none.
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=VOCAB_TARGET,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(CORPUS, trainer=trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        unk_token=SPECIAL_TOKENS[UNK],
        bos_token=SPECIAL_TOKENS[BOS],
        eos_token=SPECIAL_TOKENS[EOS],
        pad_token=SPECIAL_TOKENS[PAD],
        chat_template=CHAT_TEMPLATE,
    )


def tiny_llama(vocab_size: int, seed: int) -> LlamaForCausalLM:
    """A 2-layer GQA Llama shaped like a shrunken SmolLM2, tied embeddings, random weights."""
    config = LlamaConfig(
        vocab_size=vocab_size,
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=256,
        rms_norm_eps=1e-5,
        rope_parameters={"rope_type": "default", "rope_theta": 100000.0},
        tie_word_embeddings=True,
        # At the default 0.02 attention is near uniform: unpermuted Q/K moved the logits by only 7e-3, as
        # much as Q8_0 noise. At 0.1 that layout bug moves them by 1.7-4.0, Q8_0 by at most 0.15.
        initializer_range=0.1,
        bos_token_id=BOS,
        eos_token_id=EOS,
        pad_token_id=PAD,
    )
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config).eval()
    # Norm weights start at exactly 1; jitter them so a swapped or dropped norm changes the logits.
    with torch.no_grad():
        for name, param in model.named_parameters():
            if name.endswith("norm.weight"):
                param.add_(0.1 * torch.randn_like(param))
    return model


def permute_rotary(w: np.ndarray, n_head: int) -> np.ndarray:
    """Reorder Q/K rows from HF's half-split rotary layout to llama.cpp's interleaved pairs."""
    return w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def gguf_tensors(model: LlamaForCausalLM) -> list[tuple[str, np.ndarray]]:
    """The model's weights under llama.cpp names, in state-dict order, Q and K permuted."""
    config = model.config
    names = gguf.TensorNameMap(gguf.MODEL_ARCH.LLAMA, config.num_hidden_layers)
    tensors = []
    for hf_name, param in model.state_dict().items():
        # A tied model has no output.weight: llama.cpp reuses token_embd, and transformers infers tying from that.
        if hf_name == "lm_head.weight" and config.tie_word_embeddings:
            continue
        name = names.get_name(hf_name, try_suffixes=(".weight",))
        if name is None:
            raise KeyError(f"no GGUF name for {hf_name}")
        w = param.detach().float().numpy()
        if name.endswith("attn_q.weight"):
            w = permute_rotary(w, config.num_attention_heads)
        elif name.endswith("attn_k.weight"):
            w = permute_rotary(w, config.num_key_value_heads)
        tensors.append((name, w))
    return tensors


def vocabulary(tokenizer: PreTrainedTokenizerFast) -> tuple[list[str], list[int], list[str]]:
    """Tokens by id, their llama.cpp token types, and the merges as 'a b' strings."""
    by_id = sorted(tokenizer.get_vocab().items(), key=lambda item: item[1])
    tokens = [token for token, _ in by_id]
    special = set(SPECIAL_TOKENS)
    types = [gguf.TokenType.CONTROL if t in special else gguf.TokenType.NORMAL for t in tokens]
    # The BPE model has no merges getter; its JSON form lists them as [left, right] pairs.
    merges = json.loads(tokenizer.backend_tokenizer.to_str())["model"]["merges"]
    return tokens, [int(t) for t in types], [f"{a} {b}" for a, b in merges]


def write_metadata(writer: gguf.GGUFWriter, config: LlamaConfig, file_type: int) -> None:
    """Model hyperparameters under the llama.* keys that convert_hf_to_gguf.py writes."""
    writer.add_name("Tiny Llama Fixture")
    writer.add_block_count(config.num_hidden_layers)
    writer.add_context_length(config.max_position_embeddings)
    writer.add_embedding_length(config.hidden_size)
    writer.add_feed_forward_length(config.intermediate_size)
    writer.add_head_count(config.num_attention_heads)
    writer.add_head_count_kv(config.num_key_value_heads)
    writer.add_rope_freq_base(config.rope_parameters["rope_theta"])
    writer.add_layer_norm_rms_eps(config.rms_norm_eps)
    writer.add_file_type(file_type)
    writer.add_vocab_size(config.vocab_size)
    writer.add_rope_dimension_count(config.head_dim)


def write_tokenizer(writer: gguf.GGUFWriter, tokenizer: PreTrainedTokenizerFast) -> None:
    """The vocabulary as llama.cpp stores a gpt2-style BPE, plus special ids and the chat template."""
    tokens, types, merges = vocabulary(tokenizer)
    writer.add_add_space_prefix(False)
    writer.add_add_bos_token(False)
    writer.add_tokenizer_model("gpt2")
    # SmolLM2's pre-tokenizer name; transformers has no split regex for it, so it keeps GPT-2's.
    writer.add_tokenizer_pre("smollm")
    writer.add_token_list(tokens)
    writer.add_token_types(types)
    writer.add_token_merges(merges)
    writer.add_bos_token_id(BOS)
    writer.add_eos_token_id(EOS)
    writer.add_unk_token_id(UNK)
    writer.add_pad_token_id(PAD)
    writer.add_chat_template(tokenizer.chat_template)


def write_tensors(writer: gguf.GGUFWriter, model: LlamaForCausalLM, qtype: gguf.GGMLQuantizationType) -> None:
    """Add every weight: matrices in `qtype`, 1-D norms in F32 as llama.cpp keeps them."""
    for name, w in gguf_tensors(model):
        if w.ndim == 2 and qtype != gguf.GGMLQuantizationType.F32:
            writer.add_tensor(name, gguf.quants.quantize(w, qtype), raw_dtype=qtype)
        else:
            writer.add_tensor(name, w.astype(np.float32))


def write_tiny_gguf(path: Path, quant: str = "Q8_0", seed: int = 0) -> tuple[LlamaForCausalLM, PreTrainedTokenizerFast]:
    """Write a tiny Llama + BPE tokenizer GGUF to `path`; return the source model and tokenizer."""
    if quant not in QUANT_TYPES:
        raise ValueError(f"quant must be one of {sorted(QUANT_TYPES)}, not {quant!r}")
    qtype, file_type = QUANT_TYPES[quant]
    tokenizer = tiny_bpe_tokenizer()
    model = tiny_llama(len(tokenizer), seed)
    writer = gguf.GGUFWriter(path, gguf.MODEL_ARCH_NAMES[gguf.MODEL_ARCH.LLAMA])
    write_metadata(writer, model.config, file_type)
    write_tokenizer(writer, tokenizer)
    writer.add_quantization_version(gguf.GGML_QUANT_VERSION)
    write_tensors(writer, model, qtype)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return model, tokenizer

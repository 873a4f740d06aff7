"""The model stage: pin a hub/local model, or build the scratch tokenizer + tiny Llama."""

from __future__ import annotations

import json
import re
import time
from collections import Counter
from pathlib import Path

import numpy as np

from cptpipe.data.sources import read_instruct, read_replay
from cptpipe.data.tokens import encode_pairs, pack_stream
from cptpipe.model.context import check_context
from cptpipe.model.gguf import convert_gguf, gguf_location
from cptpipe.model.hub import pin_model  # offline-aware
from cptpipe.model.pretrain import PretrainPhase, block_rows, pretrain, run_phase
from cptpipe.model.residual import save_residual
from cptpipe.model.scratch import build_scratch_model
from cptpipe.model.start import PIN_FILE, START_FILE
from cptpipe.model.tokenizer import build_tokenizer, check_round_trip
from cptpipe.params import Params, ScratchParams
from cptpipe.prompts import format_answer, format_prompt

ROUND_TRIP_TEXT = (
    "The committee met on Tuesday, 14 March 1882, to discuss the new bridge. Its members "
    "agreed that the river crossing would cost about 3,400 pounds, and work began in May."
)


COPY_INSTRUCTION = "Repeat exactly: {}"
COPY_MAX_WORDS = 16  # copy spans of 1..16 words: as long as the held-out instructions' sentences
PRETRAIN_BATCH = 16
REPLAY_ROW_TOKENS = 32  # replay windows in the tuning passes: about as long as an instruction row
_WORD = re.compile(r"[A-Za-z]+")


def copy_pairs(texts: list[str], n: int, seed: int, max_words: int = COPY_MAX_WORDS) -> tuple[list[str], list[str]]:
    """`n` (prompt, answer) pairs "Repeat exactly: <span>" -> <span> over random word spans of texts."""
    rng = np.random.default_rng(seed)
    docs = [words for words in (t.split() for t in texts) if words]
    prompts, answers = [], []
    for _ in range(n):
        words = docs[rng.integers(len(docs))]
        k = int(rng.integers(1, max_words + 1))
        start = int(rng.integers(0, max(1, len(words) - k + 1)))
        span = " ".join(words[start : start + k])
        prompts.append(format_prompt(COPY_INSTRUCTION.format(span)))
        answers.append(format_answer(span))
    return prompts, answers


def word_pool(texts: list[str], skip_common: int = 150) -> tuple[dict[tuple[str, int], list[str]], set[str]]:
    """Replay words by (first letter, length), and the most common words (never swapped: they carry the templates)."""
    counts = Counter(w.lower() for t in texts for w in _WORD.findall(t))
    common = {w for w, _ in counts.most_common(skip_common)}
    pool: dict[tuple[str, int], list[str]] = {}
    for w, c in sorted(counts.items()):
        if c >= 2 and len(w) >= 3 and w not in common:
            pool.setdefault((w[0], len(w)), []).append(w)
    return pool, common


def _same_case(like: str, word: str) -> str:
    if like.isupper() and len(like) > 1:
        return word.upper()
    return word[0].upper() + word[1:] if like[0].isupper() else word


def fresh_words(
    instruction: str, response: str, pool: dict[tuple[str, int], list[str]], common: set[str], rng: np.random.Generator
) -> tuple[str, str]:
    """Swap the words a response copies from its instruction for replay words, in both, consistently.

    A replacement keeps the length and first letter (so "longest" and alphabetical answers stay
    right) and the case pattern (so "MOOSE" for "moose" stays consistent). Without fresh words the
    tuning set's few hundred nouns are cheaper to memorize than copying is to learn: the model
    answers held-out rows with training words.
    """
    shared = {w.lower() for w in _WORD.findall(response)} & {w.lower() for w in _WORD.findall(instruction)}
    swap = {}
    for w in sorted(shared - common):
        options = pool.get((w[0], len(w)), [])
        if len(w) >= 3 and options:
            swap[w] = options[rng.integers(len(options))]
    if not swap:
        return instruction, response
    pattern = re.compile(r"(?<![A-Za-z])(" + "|".join(map(re.escape, swap)) + r")(?![A-Za-z])", re.IGNORECASE)

    def sub(m: re.Match) -> str:
        return _same_case(m.group(0), swap[m.group(0).lower()])

    return pattern.sub(sub, instruction), pattern.sub(sub, response)


def instruction_pairs(
    rows: list[dict], epochs: int, fresh_share: float, texts: list[str], seed: int
) -> tuple[list[str], list[str]]:
    """(prompt, answer) pairs of `epochs` passes over instruction rows; `fresh_share` of them with fresh words."""
    rng = np.random.default_rng(seed)
    pool, common = word_pool(texts) if fresh_share > 0 else ({}, set())
    prompts, answers = [], []
    for _ in range(epochs):
        for r in rows:
            instruction, response = r["instruction"], r["response"]
            if rng.random() < fresh_share:
                instruction, response = fresh_words(instruction, response, pool, common, rng)
            prompts.append(format_prompt(instruction))
            answers.append(format_answer(response))
    return prompts, answers


def replay_rows(blocks: np.ndarray, n: int, length: int, seed: int) -> list[tuple[list[int], list[int]]]:
    """`n` random `length`-token windows of the pretraining blocks, every token with loss."""
    rng = np.random.default_rng(seed)
    length = min(length, blocks.shape[1])
    rows = rng.integers(len(blocks), size=n)
    starts = rng.integers(0, blocks.shape[1] - length + 1, size=n)
    return [(blocks[r, s : s + length].tolist(), [1] * length) for r, s in zip(rows, starts)]


def instruct_phase(
    sc: ScratchParams, tok, texts: list[str], blocks: np.ndarray, rows: list[dict], seed: int
) -> PretrainPhase:
    """The tuning of an "instruct" start: copy rows (from replay text) shuffled among the instruction rows.

    A scratch model pretrained for a minute has no induction heads (its loss on a repeated
    sequence does not drop), so it cannot copy a held-out word from the question into the answer;
    the copy rows teach that with words from all of the replay text. They sit in the same pass as
    the instructions rather than before them, so copying is still trained while the instructions are
    learned (held-out follow 0.260 vs 0.240 for copy rows first, bench/instruct_start.py). Short
    replay windows with loss on every token keep the answer-only loss from erasing the language
    model the pretraining built.
    """
    copies = copy_pairs(texts, sc.instruct_copy_rows, seed) if sc.instruct_copy_rows > 0 else ([], [])
    tuned = instruction_pairs(rows, sc.instruct_epochs, sc.instruct_fresh_words, texts, seed)
    enc = encode_pairs(tok, copies[0] + tuned[0], copies[1] + tuned[1])
    n_replay = round(len(enc) * sc.instruct_replay / (1 - sc.instruct_replay))
    enc += replay_rows(blocks, n_replay, REPLAY_ROW_TOKENS, seed + 2)
    return PretrainPhase("instruct_tune", enc, sc.instruct_lr, sc.instruct_batch_size)


def check_start_context(where: str | Path, revision: str | None, params: Params) -> None:
    """tokenize.seq_len and eval.passkey_lengths against the start model's context, before any data work."""
    from transformers import AutoConfig

    m = params.model
    config = AutoConfig.from_pretrained(where, revision=revision)
    check_context(
        config,
        seq_len=params.tokenize.seq_len,
        passkey_lengths=params.eval.passkey_lengths,
        rope_factor=None if m.rope_scaling is None else m.rope_scaling.factor,
    )


def build_gguf_start(params: Params, folder: Path, name: str, out_dir: Path) -> dict:
    """models/start as the plain fp32 checkpoint of a GGUF file, with START.json pinning the file's hash."""
    from transformers import AutoTokenizer

    t0 = time.perf_counter()
    summary = {**convert_gguf(folder, name, out_dir), "kind": params.model.kind}
    check_start_context(out_dir, None, params)
    check_round_trip(AutoTokenizer.from_pretrained(out_dir), ROUND_TRIP_TEXT)
    (out_dir / START_FILE).write_text(json.dumps(summary, indent=2, sort_keys=True) + "\n")
    return {**summary, "seconds": time.perf_counter() - t0}


def build_start(params: Params, replay_dir: Path, instruct_dir: Path, out_dir: Path) -> dict:
    """Write models/start; returns a summary for the stage log and START.json."""
    m = params.model
    gguf = gguf_location(m.name_or_path, m.gguf_file)
    if gguf is not None:
        return build_gguf_start(params, *gguf, out_dir)
    if m.name_or_path is not None:
        pin = pin_model(m.name_or_path, m.revision)
        check_start_context(m.name_or_path, pin.get("revision"), params)
        pin["kind"] = m.kind
        if m.instruct_residual:
            pin["instruct_residual"] = pin_model(m.instruct_name_or_path, None)
        (out_dir / PIN_FILE).write_text(json.dumps(pin, indent=2, sort_keys=True) + "\n")
        return pin
    sc = params.model.scratch
    texts = [r["text"] for r in read_replay(replay_dir, "train")]
    # General text only, as a real model's tokenizer: fitted to the instruction rows as well, it
    # gave their ~300 content words one piece each while held-out instruction words split into ~3,
    # so held-out rows were a token distribution the tuning never saw (follow 0.255 -> 0.310).
    tok = build_tokenizer(texts, sc.vocab_size, params.seed)
    check_round_trip(tok, ROUND_TRIP_TEXT)
    model = build_scratch_model(sc, tok, params.seed)
    token_lists = tok(texts, add_special_tokens=False)["input_ids"]
    blocks = pack_stream(token_lists, tok.eos_token_id, sc.context, sc.pretrain_tokens, params.seed)
    phases = [PretrainPhase("pretrain", block_rows(blocks), sc.pretrain_lr, PRETRAIN_BATCH)]
    t0 = time.perf_counter()
    done = pretrain(model, tok, phases, max_len=sc.context, seed=params.seed)
    if sc.instruct_tune or m.instruct_residual:
        base = {k: v.detach().clone() for k, v in model.state_dict().items()}
        tuning = instruct_phase(sc, tok, texts, blocks, read_instruct(instruct_dir, "train"), params.seed)
        done.append(run_phase(model, tok, tuning, max_len=sc.context, seed=params.seed))
        # An instruct start keeps its residual too: a residual arm then shares its (costly) tuning and
        # trains the base under it (train.instruct_residual), as Jindal et al. CPT the base.
        if m.instruct_residual:
            save_residual(model.state_dict(), base, out_dir)
        if not sc.instruct_tune:  # the tuning went into the residual; the start stays the base
            done[-1]["kept"] = "residual"
            model.load_state_dict(base)
    model.save_pretrained(out_dir, safe_serialization=True)
    tok.save_pretrained(out_dir)
    summary = {
        "source": "scratch",
        "kind": "instruct" if sc.instruct_tune else m.kind,
        "params": sum(p.numel() for p in model.parameters()),
        "vocab_size": len(tok),
        "pretrain_tokens": sum(p["tokens"] for p in done),
        "steps": sum(p["steps"] for p in done),
        "final_loss": done[-1]["final_loss"],
        "instruct_residual": bool(m.instruct_residual),
        "phases": done,
    }
    # No wall-clock time in the output: a rebuild with equal weights must hash equal, so that a change
    # to keys the build ignores (instruct_* while instruct_tune is false) reruns `model` only.
    (out_dir / START_FILE).write_text(json.dumps(summary, indent=2, sort_keys=True) + "\n")
    return {**summary, "seconds": time.perf_counter() - t0}

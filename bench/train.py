"""Training throughput: cptpipe's loop vs a plain transformers.Trainer (CPU), and a ~1B bf16 run (CUDA).

    .venv/bin/python bench/train.py            # both sections; the CUDA one is skipped without a GPU
    .venv/bin/python bench/train.py --steps 30 # shorter
    .venv/bin/python bench/train.py --model models/start --steps 8 --batch 4 --seq-len 512   # a real model

--model DIR measures that checkpoint (e.g. SmolLM2-135M-Instruct's models/start after `make real`)
instead of the scratch model: both trainers on the same replay blocks, then the cost of a QA-only
phase built by the mix stage's own code, one pair per sequence (padding trimmed per batch, as the
train stage does) and packed (mix.pack_pairs): processed and loss-carrying tokens per second against
the documents' blocks.

Same model (same init), data, batch, optimizer settings and step count for both trainers; each runs
twice in alternation and the faster run counts (the CPU may be shared). tokens/s = tokens trained
/ wall time of the train call (setup included for both).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src")]

import torch  # noqa: E402

from cptpipe.data.tokens import pack_stream  # noqa: E402
from cptpipe.model.scratch import build_scratch_model  # noqa: E402
from cptpipe.model.tokenizer import build_tokenizer  # noqa: E402
from cptpipe.params import ScratchParams  # noqa: E402
from cptpipe.train.blocks import ArrayBlocks  # noqa: E402
from cptpipe.train.loop import LoopConfig, Phase, train_phases  # noqa: E402

LR, WARMUP = 1e-3, 0.05


def cpu_data(seq_len: int, n_blocks: int, vocab: int):
    rows = [json.loads(line)["text"] for line in (ROOT / "data/replay/train.jsonl").read_text().splitlines()[:400]]
    tok = build_tokenizer(rows, vocab_size=vocab, seed=0)
    lists = tok(rows, add_special_tokens=False)["input_ids"]
    return tok, pack_stream(lists, tok.eos_token_id, seq_len, n_blocks * seq_len, 0)


def run_ours(model, blocks, steps: int, batch: int) -> float:
    cfg = LoopConfig(
        batch_size=batch,
        warmup=WARMUP,
        schedule="cosine",
        min_lr_ratio=0.0,
        precision="fp32",
        log_every=10,
        weight_decay=0.1,
    )
    t0 = time.perf_counter()
    res = train_phases(model, [Phase("bench", ArrayBlocks(blocks), steps, LR)], cfg, desc="cptpipe")
    return res.tokens / (time.perf_counter() - t0)


def run_trainer(model, blocks, steps: int, batch: int) -> float:
    from transformers import Trainer, TrainingArguments

    with tempfile.TemporaryDirectory() as out:
        args = TrainingArguments(
            output_dir=out,
            per_device_train_batch_size=batch,
            max_steps=steps,
            learning_rate=LR,
            lr_scheduler_type="cosine",
            warmup_steps=max(1, int(WARMUP * steps)),
            weight_decay=0.1,
            adam_beta1=0.9,
            adam_beta2=0.95,
            max_grad_norm=1.0,
            logging_steps=10,
            save_strategy="no",
            report_to="none",
            use_cpu=True,
            dataloader_num_workers=0,
            seed=0,
        )
        trainer = Trainer(model=model, args=args, train_dataset=ArrayBlocks(blocks))
        t0 = time.perf_counter()
        trainer.train()
        elapsed = time.perf_counter() - t0
    return steps * batch * blocks.shape[1] / elapsed


def compare_trainers(make_model, blocks, steps: int, batch: int) -> float:
    """Both trainers twice in alternation on fresh models (the faster run counts); cptpipe's tokens/s."""
    best = {"cptpipe": 0.0, "Trainer": 0.0}
    for _ in range(2):
        for name, fn in (("cptpipe", run_ours), ("Trainer", run_trainer)):
            tps = fn(make_model(), blocks, steps, batch)
            best[name] = max(best[name], tps)
            print(f"  {name:8s} {tps:9.0f} tokens/s")
    print(
        f"CPU tokens/s: cptpipe {best['cptpipe']:.0f}, transformers.Trainer {best['Trainer']:.0f}, "
        f"ratio {best['cptpipe'] / best['Trainer']:.2f}x"
    )
    return best["cptpipe"]


def cpu_section(steps: int, batch: int, seq_len: int) -> None:
    tok, blocks = cpu_data(seq_len, steps * batch, vocab=2000)
    sp = ScratchParams(vocab_size=2000, hidden_size=192, layers=4, heads=4, context=seq_len)
    n_params = sum(p.numel() for p in build_scratch_model(sp, tok, 0).parameters())
    print(
        f"CPU: scratch Llama {n_params / 1e6:.1f}M params, batch {batch} x {seq_len} tokens, {steps} steps, "
        f"{torch.get_num_threads()} threads"
    )
    compare_trainers(lambda: build_scratch_model(sp, tok, 0), blocks, steps, batch)


def qa_phase_blocks(tok, seq_len: int, pack_pairs: bool, work: Path):
    """A QA-only phase as the mix stage builds it: instruction rows (data/instruct/train.jsonl) in the
    chat format of the QA phases, one pass, one pair per sequence (padding trimmed per batch) or
    packed into seq_len blocks with the block-causal mask (mix.pack_pairs)."""
    from cptpipe.data.tokens import encode_documents, encode_pairs, write_token_shard
    from cptpipe.mix.plan import MixBlocks, build_mix
    from cptpipe.params import MixParams, PhaseParams, RecipeParams
    from cptpipe.prompts import format_answer, format_prompt

    rows = [json.loads(line) for line in (ROOT / "data/instruct/train.jsonl").read_text().splitlines()]
    pairs = encode_pairs(
        tok, [format_prompt(r["instruction"], tok) for r in rows], [format_answer(r["response"], tok) for r in rows]
    )
    texts = [json.loads(line)["text"] for line in (ROOT / "data/replay/train.jsonl").read_text().splitlines()[:50]]
    tokens, out = work / "tokens", work / ("packed" if pack_pairs else "rows")
    for name, encoded in (("qa", pairs), ("instruct", pairs), ("domain", None), ("replay", None)):
        (tokens / name).mkdir(parents=True, exist_ok=True)
        encoded = encoded or encode_documents(tok, texts)
        meta = [{"split": "train", "doc_id": f"{name}{i}"} for i in range(len(encoded))]
        write_token_shard(tokens / name, name, encoded, meta, len(tok))
    out.mkdir(parents=True)
    spec = RecipeParams(phases={"qa": PhaseParams(qa=1, replay=0.0, instruct=0.0)})
    mix = MixParams(qa_epochs=1, pack_pairs=pack_pairs)
    phase = build_mix(tokens, out, mix=mix, recipe="bench", spec=spec, seq_len=seq_len, seed=0)["phases"][0]
    pad = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
    return MixBlocks(out / "0-qa.parquet", tokens, phase["seq_len"], pad), phase


def processed_tokens(blocks, n_rows: int) -> int:
    """Tokens the model reads in the first n_rows blocks of a phase: its pieces, not the padding."""
    return sum(
        int(blocks.length[blocks.bounds[i % len(blocks)] : blocks.bounds[i % len(blocks) + 1]].sum())
        for i in range(n_rows)
    )


def timed_phase(model, data, steps: int, batch: int) -> tuple[float, float]:
    """(processed, loss-carrying) tokens per second of `steps` steps of cptpipe's loop over data."""
    cfg = LoopConfig(batch_size=batch, warmup=WARMUP, schedule="cosine", precision="fp32", log_every=10)
    processed = processed_tokens(data, steps * batch)
    t0 = time.perf_counter()
    res = train_phases(model, [Phase("bench", data, steps, 5e-5)], cfg, desc="phase")
    elapsed = time.perf_counter() - t0
    return processed / elapsed, res.tokens / elapsed


def model_section(model_dir: Path, steps: int, batch: int, seq_len: int) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(model_dir)
    rows = [json.loads(line)["text"] for line in (ROOT / "data/replay/train.jsonl").read_text().splitlines()[:400]]
    lists = tok(rows, add_special_tokens=False)["input_ids"]
    blocks = pack_stream(lists, tok.eos_token_id, seq_len, steps * batch * seq_len, 0)

    def load():
        return AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)

    n_params = sum(p.numel() for p in load().parameters())
    print(
        f"CPU: {model_dir.name} {n_params / 1e6:.1f}M params fp32, batch {batch} x {seq_len} tokens, {steps} steps, "
        f"{torch.get_num_threads()} threads"
    )
    docs = compare_trainers(load, blocks, steps, batch)
    with tempfile.TemporaryDirectory() as work:
        for pack_pairs in (False, True):
            qa, phase = qa_phase_blocks(tok, seq_len, pack_pairs, Path(work))
            pairs = phase["sources"]["qa"]["pieces"]
            processed, loss = timed_phase(load(), qa, steps, batch)
            print(
                f"QA-only phase, {'packed (mix.pack_pairs)' if pack_pairs else 'one pair per sequence'}: "
                f"{pairs} pairs in {phase['blocks']} sequences ({pairs / phase['blocks']:.1f} per sequence); "
                f"{processed:.0f} processed / {loss:.0f} loss tokens/s vs documents {docs:.0f}: cost per "
                f"processed token x{docs / processed:.2f} the documents'"
            )


PEAK_BF16 = {"H100": 989e12, "H200": 989e12, "A100": 312e12, "L40S": 362e12, "A10": 125e12, "4090": 165e12}


def cuda_section(steps: int, batch: int, seq_len: int) -> None:
    if not torch.cuda.is_available():
        print("CUDA: skipped (no CUDA device); run on a GPU machine for the ~1B bf16 tokens/s and MFU")
        return
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.backends.cuda.matmul.allow_tf32 = True
    cfg = LlamaConfig(
        vocab_size=32000,
        hidden_size=2048,
        intermediate_size=5632,
        num_hidden_layers=22,
        num_attention_heads=32,
        num_key_value_heads=4,
        max_position_embeddings=seq_len,
        tie_word_embeddings=False,
    )
    torch.manual_seed(0)
    model = LlamaForCausalLM(cfg)
    n = sum(p.numel() for p in model.parameters())
    blocks = torch.randint(0, cfg.vocab_size, (steps * batch, seq_len))
    times: list[float] = []
    log = lambda point: (torch.cuda.synchronize(), times.append(time.perf_counter()))  # noqa: E731
    train_phases(
        model,
        [Phase("bench", ArrayBlocks(blocks), steps, 3e-4)],
        LoopConfig(batch_size=batch, precision="bf16", log_every=1),
        log=log,
        desc="cuda bf16",
    )
    warm = 3  # the first steps include allocator warm-up and kernel selection
    tps = (steps - warm) * batch * seq_len / (times[-1] - times[warm - 1])
    name = torch.cuda.get_device_name()
    peak = next(
        (v for k, v in PEAK_BF16.items() if k in name), float(os.environ.get("BENCH_PEAK_TFLOPS", "nan")) * 1e12
    )
    flops_per_token = 6 * n + 12 * cfg.num_hidden_layers * cfg.hidden_size * seq_len  # weights + attention
    print(
        f"CUDA ({name}): Llama {n / 1e9:.2f}B bf16, batch {batch} x {seq_len}: {tps:.0f} tokens/s, "
        f"MFU {flops_per_token * tps / peak:.1%} (peak {peak / 1e12:.0f} TFLOP/s)"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=60)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--seq-len", type=int, default=128)
    ap.add_argument("--cuda-steps", type=int, default=12)
    ap.add_argument("--cuda-batch", type=int, default=8)
    ap.add_argument("--cuda-seq-len", type=int, default=2048)
    ap.add_argument("--model", type=Path, default=None, help="a save_pretrained dir to measure instead")
    a = ap.parse_args()
    if a.model is not None:
        model_section(a.model, a.steps, a.batch, a.seq_len)
        return
    cpu_section(a.steps, a.batch, a.seq_len)
    cuda_section(a.cuda_steps, a.cuda_batch, a.cuda_seq_len)


if __name__ == "__main__":
    main()

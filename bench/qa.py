"""QA generation throughput: rules on the shipped corpus; hf batched vs batch size 1 (tiny model, CPU).

    .venv/bin/python bench/qa.py                 # both sections
    .venv/bin/python bench/qa.py --hf-docs 8     # fewer documents for the hf section

rules: pairs/s over data/raw/encyclopedia/**.md (best of 3 passes; the CPU may be shared).
hf: a tiny scratch Llama (built like tests/helpers.py, saved to a temp dir) writes the pairs;
the same requests run with qa.batch_size 1 and 8, greedy, fixed max_new_tokens, so the
difference is batching alone (prompts/s; the untrained model's pairs mostly fail to parse).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT)]

import pyarrow as pa  # noqa: E402

from cptpipe.params import QAParams  # noqa: E402
from cptpipe.qa.generate import build_qa  # noqa: E402


def corpus() -> pa.Table:
    rows = []
    for p in sorted((ROOT / "data/raw/encyclopedia").glob("**/*.md")):
        text = p.read_text(encoding="utf-8")
        rows.append(
            {"doc_id": p.stem, "title": text.splitlines()[0].lstrip("# ").strip(), "text": text, "split": "train"}
        )
    return pa.Table.from_pylist(rows)


def bench_rules(docs: pa.Table) -> None:
    best = None
    for _ in range(3):
        t0 = time.perf_counter()
        rows, report = build_qa(docs, QAParams(), seed=0)
        dt = time.perf_counter() - t0
        best = dt if best is None else min(best, dt)
    print(
        f"rules: {docs.num_rows} docs, {len(rows)} pairs in {best:.2f} s -> {len(rows) / best:.0f} pairs/s, "
        f"{docs.num_rows / best:.0f} docs/s ({report['pairs_per_doc']} pairs/doc)"
    )


def bench_hf(docs: pa.Table, n_docs: int, max_new_tokens: int) -> None:
    import torch

    from tests.helpers import tiny_model, tiny_tokenizer

    torch.set_num_threads(2)
    sub = docs.slice(0, n_docs)
    with tempfile.TemporaryDirectory() as d:
        tiny_model(context=1024).save_pretrained(d)
        tiny_tokenizer().save_pretrained(d)
        for bs in (1, 8):
            params = QAParams(generator="hf", model=d, per_doc=8, batch_size=bs, max_new_tokens=max_new_tokens)
            t0 = time.perf_counter()
            rows, report = build_qa(sub, params, seed=0)
            dt = time.perf_counter() - t0
            n = report["generation"]["requests"]
            print(
                f"hf batch_size={bs}: {n} prompts x {max_new_tokens} new tokens in {dt:.1f} s -> "
                f"{n / dt:.2f} prompts/s, {len(rows) / dt:.2f} pairs/s ({report['generation']['device']})"
            )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--hf-docs", type=int, default=16)
    ap.add_argument("--max-new-tokens", type=int, default=64)
    ap.add_argument("--skip-hf", action="store_true")
    args = ap.parse_args()
    docs = corpus()
    bench_rules(docs)
    if not args.skip_hf:
        bench_hf(docs, args.hf_docs, args.max_new_tokens)


if __name__ == "__main__":
    main()

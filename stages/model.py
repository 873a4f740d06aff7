"""DVC stage `model`: the start model (--out): a scratch tokenizer + tiny Llama pretrained on the replay
and instruction train files (--replay, --instruct), or a pinned hub/local model."""

import argparse

from cptpipe.cli import run_stage, stage_parser
from cptpipe.io import atomic_dir
from cptpipe.model.prepare import build_start
from cptpipe.params import load_params
from cptpipe.timings import write_timings

ARGS = stage_parser(
    __doc__,
    replay="folder with the general text's train.jsonl",
    instruct="folder with the instructions' train.jsonl",
    out="start model folder, replaced atomically",
)


def main(args: argparse.Namespace) -> str:
    params = load_params()
    with atomic_dir(args.out) as tmp:
        s = build_start(params, args.replay, args.instruct, tmp)
    if s["source"] == "scratch":  # START.json has no seconds: equal weights must hash equal
        write_timings("model", {"pretrain_seconds": round(s["seconds"], 2)})
        return (
            f"scratch Llama {s['params'] / 1e6:.2f}M params, vocab {s['vocab_size']}, "
            f"{s['pretrain_tokens']} tokens, loss {s['final_loss']}, {s['seconds']:.0f} s"
        )
    if s["source"] == "gguf":
        types = ", ".join(f"{n} {t}" for t, n in s["tensor_types"].items())
        return f"dequantized {s['gguf_file']} ({types}) to {s['params'] / 1e6:.1f}M fp32 params, {s['seconds']:.0f} s"
    return f"pinned {s['source']} model ({s.get('revision') or s.get('sha256', '')[:12]})"


if __name__ == "__main__":
    args = ARGS.parse_args()
    run_stage("model", lambda: main(args))

"""DVC stage `model`: models/start (scratch tokenizer + tiny Llama, or a pinned hub/local model)."""

from pathlib import Path

from cptpipe.cli import run_stage
from cptpipe.io import atomic_dir
from cptpipe.model.build import build_start
from cptpipe.params import load_params


def main() -> str:
    params = load_params()
    with atomic_dir("models/start") as tmp:
        s = build_start(params, Path("data/replay"), Path("data/instruct"), tmp)
    if s["source"] == "scratch":
        return (
            f"scratch Llama {s['params'] / 1e6:.2f}M params, vocab {s['vocab_size']}, "
            f"{s['pretrain_tokens']} tokens, loss {s['final_loss']}, {s['seconds']:.0f} s"
        )
    return f"pinned {s['source']} model ({s.get('revision') or s.get('sha256', '')[:12]})"


if __name__ == "__main__":
    run_stage("model", main)

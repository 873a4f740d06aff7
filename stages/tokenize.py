"""DVC stage `tokenize@<source>`: one text source -> data/tokens/<source>/ token shard."""

import os
import sys
import time
from pathlib import Path

from cptpipe.cli import run_stage
from cptpipe.data.tokenize import tokenize_source
from cptpipe.io import atomic_dir
from cptpipe.model.start import load_tokenizer
from cptpipe.params import load_params


def main() -> str:
    p = load_params()  # validate everything first
    os.environ["TOKENIZERS_PARALLELISM"] = "true"  # the Rust batch encoder uses every core (no fork follows)
    source = sys.argv[1]
    tok = load_tokenizer("models/start")
    t0 = time.perf_counter()
    with atomic_dir(f"data/tokens/{source}") as tmp:
        meta = tokenize_source(
            source,
            tok,
            Path("."),
            tmp,
            batch_rows=p.tokenize.batch_rows,
            replay_source=p.mix.replay_source,
            replay_take=p.mix.replay_take,
        )
    dt = time.perf_counter() - t0
    return (
        f"{meta['rows']} rows, {meta['tokens']} tokens ({meta['dtype']}), by split {meta['tokens_by_split']}, "
        f"{dt:.1f} s ({meta['tokens'] / max(dt, 1e-9):,.0f} tokens/s)"
    )


if __name__ == "__main__":
    run_stage(f"tokenize@{sys.argv[1] if len(sys.argv) > 1 else '?'}", main)

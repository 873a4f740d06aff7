"""DVC stage `tokenize@<source>`: one text source (--input) -> one token shard (--out), with the start
model's tokenizer (--tokenizer)."""

import argparse
import os
import time

from cptpipe.cli import run_stage, stage_parser
from cptpipe.data.encode import tokenize_source
from cptpipe.data.engine import cluster_engine
from cptpipe.io import atomic_dir
from cptpipe.model.start import load_tokenizer
from cptpipe.params import SOURCES, load_params

ARGS = stage_parser(
    __doc__,
    input="the source's folder (for replay, read when mix.replay_source is null)",
    tokenizer="the start model's folder",
    out="token shard folder, replaced atomically",
)
ARGS.add_argument("source", choices=SOURCES)


def main(args: argparse.Namespace) -> str:
    p = load_params()  # validate everything first
    os.environ["TOKENIZERS_PARALLELISM"] = "true"  # the Rust batch encoder uses every core (no fork follows)
    # replay reads mix.replay_source when it is set (another folder, or an hf: dataset)
    location = (p.mix.replay_source or args.input) if args.source == "replay" else args.input
    tok = load_tokenizer(args.tokenizer)
    t0 = time.perf_counter()
    # ingest.engine: ray encodes the batches as tasks; local keeps them in this process (Rust threads)
    with atomic_dir(args.out) as tmp, cluster_engine(p.ingest) as engine:
        meta = tokenize_source(
            args.source,
            tok,
            location,
            tmp,
            batch_rows=p.tokenize.batch_rows,
            replay_take=p.mix.replay_take,
            engine=engine,
        )
    dt = time.perf_counter() - t0
    return (
        f"{meta['rows']} rows, {meta['tokens']} tokens ({meta['dtype']}), by split {meta['tokens_by_split']}, "
        f"{dt:.1f} s ({meta['tokens'] / max(dt, 1e-9):,.0f} tokens/s)"
    )


if __name__ == "__main__":
    args = ARGS.parse_args()
    run_stage(f"tokenize@{args.source}", lambda: main(args))

"""DVC stage `tokenize@<source>`: one text source -> data/tokens/<source>/ token shard."""

import sys
from pathlib import Path

from cptpipe.cli import run_stage
from cptpipe.data.tokenize import tokenize_source
from cptpipe.io import atomic_dir
from cptpipe.model.start import load_tokenizer
from cptpipe.params import load_params


def main() -> str:
    load_params()  # validate everything first, even though tokenizing reads no params
    source = sys.argv[1]
    tok = load_tokenizer("models/start")
    with atomic_dir(f"data/tokens/{source}") as tmp:
        meta = tokenize_source(source, tok, Path("."), tmp)
    return f"{meta['rows']} rows, {meta['tokens']} tokens ({meta['dtype']}), by split {meta['tokens_by_split']}"


if __name__ == "__main__":
    run_stage(f"tokenize@{sys.argv[1] if len(sys.argv) > 1 else '?'}", main)

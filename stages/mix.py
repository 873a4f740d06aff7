"""DVC stage `mix`: token shards (--tokens) -> per-phase sampling index (--out) + a report JSON (--report)."""

import argparse
import time

from cptpipe.cli import run_stage, stage_parser
from cptpipe.io import atomic_dir, write_json
from cptpipe.mix.plan import build_mix
from cptpipe.params import load_params

ARGS = stage_parser(
    __doc__,
    tokens="folder with one token shard per source (domain, qa, replay, instruct)",
    out="index folder, replaced atomically",
    report="tokens by phase and source (JSON)",
)


def main(args: argparse.Namespace) -> str:
    p = load_params()
    t0 = time.perf_counter()
    with atomic_dir(args.out) as tmp:
        report = build_mix(
            args.tokens,
            tmp,
            mix=p.mix,
            recipe=p.train.recipe,
            spec=p.recipes[p.train.recipe],
            seq_len=p.tokenize.seq_len,
            seed=p.seed if p.mix.seed is None else p.mix.seed,
        )
    write_json(args.report, report)
    parts = ", ".join(f"{ph['name']}: {ph['blocks']} blocks" for ph in report["phases"])
    return f"recipe {report['recipe']}: {parts} ({time.perf_counter() - t0:.1f} s)"


if __name__ == "__main__":
    args = ARGS.parse_args()
    run_stage("mix", lambda: main(args))

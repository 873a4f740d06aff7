"""DVC stage `mix`: data/tokens/* -> data/mix (per-phase sampling index) + reports/mix.json."""

import time
from pathlib import Path

from cptpipe.cli import run_stage
from cptpipe.io import atomic_dir, write_json
from cptpipe.mix.build import build_mix
from cptpipe.params import load_params


def main() -> str:
    p = load_params()
    t0 = time.perf_counter()
    with atomic_dir("data/mix") as tmp:
        report = build_mix(
            Path("data/tokens"),
            tmp,
            mix=p.mix,
            recipe=p.train.recipe,
            seq_len=p.tokenize.seq_len,
            seed=p.seed if p.mix.seed is None else p.mix.seed,
        )
    write_json("reports/mix.json", report)
    parts = ", ".join(f"{ph['name']}: {ph['blocks']} blocks" for ph in report["phases"])
    return f"recipe {report['recipe']}: {parts} ({time.perf_counter() - t0:.1f} s)"


if __name__ == "__main__":
    run_stage("mix", main)

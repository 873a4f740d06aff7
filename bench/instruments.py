"""Check the instruments on a known-good and a known-broken model before trusting what they read.

    .venv/bin/python bench/instruments.py                         # models/start
    .venv/bin/python bench/instruments.py --model DIR            # any save_pretrained dir
    .venv/bin/python bench/instruments.py --model DIR --limit 40 --save-samples tests/eval/smollm2_follow.jsonl

Runs the eval stage's IFEval-style instruction following (`instruct_follow`) and the general-text
perplexity (`general_ppl`) with lm-eval on DIR as it is
("good") and on a copy whose weight matrices have their rows shuffled ("broken": same shapes and
norms, no function). A true instrument reads the good model well above the broken one: follow near
0 and perplexity in the thousands for the broken copy. Prints both, and per-constraint follow rates.
--save-samples writes the good model's follow answers (instruction, constraint, response) as JSONL
for tests/eval/test_known_models.py to rescore.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import yaml

from cptpipe.eval.run import evaluate_checkpoint
from cptpipe.eval.tasks import EvalInputs
from cptpipe.params import parse_params

ROOT = Path(__file__).resolve().parents[1]


def eval_params(limit: int | None):
    raw = yaml.safe_load((ROOT / "params.yaml").read_text())
    raw["eval"].update(
        domain_qa=False,
        replay_ppl=False,
        general_ppl=True,
        instruct_follow=True,
        instruct_drills=False,
        lm_eval_tasks=[],
        passkey_lengths=[],
        limit=limit,
    )
    return parse_params(raw, "params.yaml (+ bench/instruments.py)")


def broken_copy(model_dir: Path, out: Path, seed: int = 0) -> None:
    """The model with every weight matrix's rows shuffled: a model of the same size that computes nothing."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            if p.dim() == 2:
                p.copy_(p[torch.randperm(p.shape[0], generator=g)])
    model.save_pretrained(out)
    AutoTokenizer.from_pretrained(model_dir).save_pretrained(out)


def by_constraint(samples: Path) -> dict[str, float]:
    kinds: dict[str, list[float]] = defaultdict(list)
    for line in samples.read_text().splitlines():
        row = json.loads(line)
        kinds[row["doc"]["id"].split("/")[1]].append(row["follow"])
    return {k: sum(v) / len(v) for k, v in sorted(kinds.items())}


def run(model_dir: Path, params, out: Path) -> dict:
    inputs = EvalInputs(*(ROOT / f"data/{n}" for n in ("qa", "shards", "replay", "instruct", "general")))
    out.mkdir(parents=True)
    t0 = time.perf_counter()
    m = evaluate_checkpoint(model_dir, params, inputs, out)
    m["seconds"] = time.perf_counter() - t0
    m["follow_by_constraint"] = by_constraint(out / "samples_instruct_follow.jsonl")
    return m


def save_samples(samples: Path, dest: Path) -> None:
    rows = [json.loads(line) for line in samples.read_text().splitlines()]
    with dest.open("w", encoding="utf-8") as f:
        for r in sorted(rows, key=lambda r: r["doc"]["id"]):
            keep = {"id": r["doc"]["id"], "constraint": r["doc"]["constraint"], "response": r["resps"][0][0]}
            f.write(json.dumps(keep, ensure_ascii=False) + "\n")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", type=Path, default=ROOT / "models/start", help="a save_pretrained model dir")
    ap.add_argument("--limit", type=int, default=None, help="examples per task (null: all)")
    ap.add_argument("--save-samples", type=Path, default=None, help="write the good model's follow answers here")
    args = ap.parse_args()
    model_dir = args.model.resolve()
    if not (model_dir / "config.json").exists():
        print(f"skipped: {args.model} holds no checkpoint (run `make repro`, or `make real` for SmolLM2)")
        return
    save_to = args.save_samples.resolve() if args.save_samples else None
    params = eval_params(args.limit)
    os.chdir(ROOT)  # the eval's task files are written and read relative to the repository root
    with tempfile.TemporaryDirectory(prefix=".bench-instruments-", dir=ROOT) as tmp:
        tmp = Path(tmp)
        broken = tmp / "broken"
        broken_copy(model_dir, broken)
        results = {"good": run(model_dir, params, tmp / "good"), "broken": run(broken, params, tmp / "broken-eval")}
        if save_to is not None:
            save_samples(tmp / "good" / "samples_instruct_follow.jsonl", save_to)
    print("| model | follow (IFEval-style) | general word ppl | seconds |")
    print("|---|---:|---:|---:|")
    for name, m in results.items():
        print(
            f"| {name} | {m['instruct']['follow']:.3f} (n={m['n']['instruct_follow']}) | "
            f"{m['general']['ppl']:,.1f} | {m['seconds']:.0f} |"
        )
    kinds = sorted(results["good"]["follow_by_constraint"])
    print("\nfollow by constraint: " + ", ".join(kinds))
    for name, m in results.items():
        print(f"  {name}: " + " ".join(f"{m['follow_by_constraint'][k]:.2f}" for k in kinds))


if __name__ == "__main__":
    main()

"""A tiny train-stage workspace: token shards, a mix index, a start model and params.yaml in a dir."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import yaml

from cptpipe.data.tokens import encode_documents, encode_pairs, write_token_shard
from cptpipe.mix.plan import build_mix
from cptpipe.params import MixParams, parse_params
from tests.helpers import ROOT, recipe_spec, replay_texts, shipped_recipes, stage_args, tiny_model, tiny_tokenizer

SEQ_LEN = 64
QA_KINDS = ("factual", "factual", "reasoning")  # QA type of row i: i % 3
TRAIN = {"batch_size": 8, "log_every": 2, "eval_every": 4, "precision": "fp32", "lr": 2e-3, "warmup": 0.1}


def write_tokens(root: Path) -> None:
    tok = tiny_tokenizer()
    texts = replay_texts(120)
    docs = [{"split": "heldout" if i % 6 == 0 else "train", "doc_id": f"d{i}"} for i in range(len(texts))]
    for name in ("domain", "replay"):
        (root / name).mkdir(parents=True)
        write_token_shard(root / name, name, encode_documents(tok, texts), docs, len(tok))
    qs = [f"Question: What is item {i}?\nAnswer:" for i in range(60)]
    ans = [f" item {i} is a thing" for i in range(60)]
    for name in ("qa", "instruct"):
        (root / name).mkdir(parents=True)
        meta = [
            {
                "split": "heldout" if i % 4 == 0 else "train",
                "doc_id": f"q{i}",
                "kind": QA_KINDS[i % 3] if name == "qa" else name,
            }
            for i in range(60)
        ]
        write_token_shard(root / name, name, encode_pairs(tok, qs, ans), meta, len(tok))


def make_workspace(
    root: Path,
    recipe: str = "pit",
    mix_tokens: int = 8000,
    train: dict | None = None,
    model: dict | None = None,
    mix: dict | None = None,
) -> Path:
    """root/{data/tokens, data/mix, models/start, params.yaml} for `recipe`; returns root."""
    write_tokens(root / "data/tokens")
    (root / "data/mix").mkdir(parents=True)
    build_mix(
        root / "data/tokens",
        root / "data/mix",
        mix=MixParams(tokens=mix_tokens, qa_epochs=1.0, **(mix or {})),
        recipe=recipe,
        spec=recipe_spec(recipe),
        seq_len=SEQ_LEN,
        seed=0,
    )
    start = root / "models/start"
    tiny_model(context=SEQ_LEN).save_pretrained(start)
    tiny_tokenizer().save_pretrained(start)
    (start / "START.json").write_text(json.dumps({"kind": "base"}))
    raw = {
        "tokenize": {"seq_len": SEQ_LEN},
        "mix": {"tokens": mix_tokens, "qa_epochs": 1.0, **(mix or {})},
        "model": {
            "scratch": {"vocab_size": 600, "hidden_size": 32, "layers": 2, "heads": 2, "context": SEQ_LEN},
            **(model or {}),
        },
        "train": {"recipe": recipe, **TRAIN, **(train or {})},
        "recipes": shipped_recipes(),
    }
    (root / "params.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
    return root


def params(root: Path):
    return parse_params(yaml.safe_load((root / "params.yaml").read_text()))


def stage_env() -> dict:
    bindir = str(Path(sys.executable).parent)
    return {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "src")]),
        "PATH": bindir + os.pathsep + os.environ.get("PATH", ""),
        "HF_HUB_OFFLINE": "1",
        "TOKENIZERS_PARALLELISM": "false",
        "PYTHONUNBUFFERED": "1",
        "OMP_NUM_THREADS": "1",
    }


STAGE = [sys.executable, "-m", "stages.train", *stage_args("train")]  # the stage as `dvc repro` runs it


def start_stage(root: Path) -> subprocess.Popen:
    """The train stage in the workspace, as `dvc repro` runs it."""
    return subprocess.Popen(
        STAGE,
        cwd=root,
        env=stage_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def kill_after_checkpoint(root: Path) -> Path:
    """Start the train stage, kill -9 it as soon as a checkpoint is written; the newest checkpoint."""
    ckpts = root / "checkpoints/train"
    proc = start_stage(root)
    deadline = time.time() + 120
    while not any(ckpts.glob("*/step-*/state.json")) and proc.poll() is None and time.time() < deadline:
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    saved = sorted(ckpts.glob("*/step-*"))
    assert saved, f"no checkpoint before the kill:\n{proc.stdout.read()[-2000:]}"
    return saved[-1]

"""Tiny real things for tests: a tokenizer trained on shipped text and a 2-layer Llama."""

from __future__ import annotations

import functools
import json
import shlex
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def replay_texts(n: int = 200) -> list[str]:
    with open(ROOT / "data/replay/train.jsonl") as f:
        return [json.loads(line)["text"] for _, line in zip(range(n), f)]


@functools.lru_cache(maxsize=1)
def shipped_recipes() -> dict:
    """The recipes section of the repository's params.yaml (the six shipped recipes, as data)."""
    import yaml

    return yaml.safe_load((ROOT / "params.yaml").read_text())["recipes"]


def recipe_spec(name: str):
    """A shipped recipe as the mix stage gets it (cptpipe.params.RecipeParams)."""
    from cptpipe.params import parse_params

    return parse_params({"recipes": shipped_recipes(), "train": {"recipe": name, "lr": 1e-3}}).recipes[name]


def stage_args(stage: str) -> list[str]:
    """The arguments dvc.yaml's cmd passes a (non-foreach) stage after `python -m stages.<name>`."""
    import yaml

    cmd = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"][stage]["cmd"]
    return shlex.split(cmd)[3:]


@functools.lru_cache(maxsize=1)
def tiny_tokenizer():
    from cptpipe.model.tokenizer import build_tokenizer

    return build_tokenizer(replay_texts(), vocab_size=600, seed=0)


def tiny_model(seed: int = 0, context: int = 64):
    from cptpipe.model.scratch import build_scratch_model
    from cptpipe.params import ScratchParams

    p = ScratchParams(vocab_size=600, hidden_size=32, layers=2, heads=2, context=context)
    return build_scratch_model(p, tiny_tokenizer(), seed)

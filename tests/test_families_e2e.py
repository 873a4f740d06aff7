"""The whole DAG on tiny random models of three Hugging Face families (a user's own checkpoint)."""

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from test_e2e import ALL_STAGES, TINY, deep_update, dvc, make_repo, ran

sys.path.insert(0, str(Path(__file__).resolve().parent))
from families import ROUND_TRIP, build_family  # noqa: E402

pytestmark = pytest.mark.slow


class TaskLoader(yaml.SafeLoader):
    """Reads lm-eval task YAMLs: `!function module.name` becomes its string."""


TaskLoader.add_constructor("!function", lambda loader, node: loader.construct_scalar(node))
# ~1 min per family on one core: a small mix, few eval examples, short answers
SMALL = deep_update(
    json.loads(json.dumps(TINY)),
    {
        "ingest": {"include": ["encyclopedia/person/*"]},  # 120 of the 480 documents: the suite's time budget
        "tokenize": {"seq_len": 128},
        "mix": {"tokens": 10000},
        "train": {"batch_size": 8, "absorption_questions": 8, "save_every": 0},
        "eval": {"limit": 8, "max_new_tokens": 8, "batch_size": 8},
    },
)


def run_family(tmp_path: Path, family: str, model: dict | None = None, extra: dict | None = None) -> Path:
    local = build_family(family, tmp_path / f"my-{family}")
    overrides = deep_update(json.loads(json.dumps(SMALL)), {"model": {"name_or_path": str(local), **(model or {})}})
    overrides = deep_update(overrides, extra or {})
    repo = make_repo(tmp_path / "repo", overrides)
    assert ran(dvc(repo, "repro")) == ALL_STAGES
    return repo


def check_cpt(repo: Path, family: str):
    """models/cpt loads with the Auto classes, keeps the family and the tokenizer, and round-trips text."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(repo / "models/cpt")
    assert model.config.model_type == family
    tok = AutoTokenizer.from_pretrained(repo / "models/cpt")
    assert tok.decode(tok(ROUND_TRIP, add_special_tokens=False)["input_ids"]) == ROUND_TRIP
    assert (repo / "models/cpt/tokenizer.json").exists() and (repo / "models/cpt/tokenizer_config.json").exists()
    metrics = json.loads((repo / "reports/metrics.json").read_text())
    assert isinstance(metrics["cpt"]["domain_qa"]["em"], float)
    return model, tok


def test_gpt2_with_documents_longer_than_n_positions(tmp_path):
    repo = run_family(tmp_path, "gpt2")
    model, tok = check_cpt(repo, "gpt2")
    assert model.config.n_positions == 128 and tok.pad_token is None  # saved as shipped, no pad added
    from cptpipe.data.tokens import TokenSource

    lengths = TokenSource(repo / "data/tokens/domain").row_arrays()["length"]
    assert lengths.max() > 128  # whole articles (~430 tokens) are longer than the model's positions


def test_qwen2_instruct_trains_and_evaluates_inside_its_chat_template(tmp_path):
    repo = run_family(tmp_path, "qwen2", {"kind": "instruct"})
    _, tok = check_cpt(repo, "qwen2")
    assert (repo / "models/cpt/chat_template.jinja").exists() and "<|im_start|>" in tok.chat_template
    assert tok.eos_token == "<|im_end|>" and tok.bos_token is None
    from cptpipe.data.tokens import TokenSource

    for source in ("qa", "instruct"):
        src = TokenSource(repo / "data/tokens" / source)
        rows = src.row_arrays()
        for o, n in list(zip(rows["offset"], rows["length"]))[:20]:
            text = tok.decode(src.tokens[o : o + n].tolist())
            assert text.startswith("<|im_start|>user\n") and "<|im_start|>assistant\n" in text, text
            assert text.endswith("<|im_end|>") and src.mask[o + n - 1] == 1, text
    task = yaml.load((repo / "reports/eval/cpt/tasks/domain_qa_gen.yaml").read_text(), TaskLoader)
    assert "<|im_end|>" in task["generation_kwargs"]["until"]
    assert task["doc_to_text"] == "{{prompt}}"
    first = json.loads((repo / "reports/eval/cpt/tasks/domain_qa_gen.jsonl").read_text().splitlines()[0])
    assert first["prompt"].endswith("<|im_start|>assistant\n")
    for line in (repo / "reports/eval/cpt/samples_domain_qa_gen.jsonl").read_text().splitlines():
        assert "<|im_end|>" not in json.loads(line)["resps"][0]  # generation stopped at the end of turn


def test_llama_with_a_vocabulary_above_uint16(tmp_path):
    # a 66k-row output layer makes every token ~30x dearer than with the other families: one documents phase
    repo = run_family(
        tmp_path, "llama", extra={"mix": {"tokens": 5000}, "train": {"recipe": "cpt"}, "eval": {"limit": 4}}
    )
    model, _ = check_cpt(repo, "llama")
    assert model.config.vocab_size == 66_000
    for source in ("domain", "qa", "replay", "instruct"):
        tokens = np.load(repo / "data/tokens" / source / "tokens.npy", mmap_mode="r")
        assert tokens.dtype == np.uint32 and int(tokens.max()) > 65_535, source
    from cptpipe.mix.plan import MixBlocks

    phases = json.loads((repo / "data/mix/phases.json").read_text())["phases"]
    blocks = MixBlocks(repo / "data/mix" / phases[-1]["file"], repo / "data/tokens", phases[-1]["seq_len"], 0)
    ids = blocks[0]["input_ids"]
    assert int(ids.max()) > 65_535  # the wide ids reach the training batches intact
    summary = json.loads((repo / "reports/train/summary.json").read_text())
    assert summary["steps"] > 0 and np.isfinite(summary["final_loss"])

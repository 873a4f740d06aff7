"""The six shipped recipes written as data with the schedules of the hard-coded recipes they replaced
(one LR, no replay or instructions in QA phases, QA 20% of the documents + QA phases) give byte-identical
indexes to that code. legacy_mix.json holds the digests the code at 04b89f0 wrote on these token shards
(same fixture as conftest.token_dir, seed 7, seq_len 64, a passes budget and a tokens budget)."""

import hashlib
import json
from pathlib import Path

import pytest

from cptpipe.mix.plan import build_mix
from cptpipe.params import parse_params

DOCS = {"domain": 1}
QA = {"qa": 1, "replay": 0, "instruct": 0}
DOCS_QA = {"domain": 0.736, "qa": 0.2, "replay": 0.048, "instruct": 0.016}  # QA 0.2 on top of 0.92/0.06/0.02
LEGACY = {
    "cpt": {"docs": DOCS},
    "it_after_cpt": {"docs": DOCS, "qa": QA},
    "pit": {"qa": QA, "docs_qa": DOCS_QA},
    "mixed": {"docs_qa": DOCS_QA},
    "pit_docs_only": {"qa": QA, "docs": DOCS},
    "pit_final_it": {
        "qa": QA,
        "docs_qa": DOCS_QA,
        "final_it": {"qa": 1, "instruct": 0.1, "replay": 0, "passes": {"qa": 1}},
    },
}
GOLDEN = json.loads((Path(__file__).parent / "legacy_mix.json").read_text())


@pytest.mark.parametrize("budget", ["epochs", "tokens"])
@pytest.mark.parametrize("recipe", list(LEGACY))
def test_legacy_recipes_as_data_write_the_same_bytes(token_dir, tmp_path, recipe, budget):
    mix = {"tokens": None, "domain_epochs": 3.0} if budget == "epochs" else {"tokens": 4321}
    p = parse_params(
        {
            "mix": {**mix, "replay": 0.06, "instruct": 0.02, "qa_epochs": 2.0},
            "train": {"recipe": recipe, "lr": 1e-3},
            "recipes": {name: {"phases": phases} for name, phases in LEGACY.items()},
        }
    )
    build_mix(token_dir, tmp_path, mix=p.mix, recipe=recipe, spec=p.recipes[recipe], seq_len=64, seed=7)
    got = {f.name: hashlib.sha256(f.read_bytes()).hexdigest() for f in sorted(tmp_path.iterdir())}
    assert got == GOLDEN[f"{budget}/{recipe}"]

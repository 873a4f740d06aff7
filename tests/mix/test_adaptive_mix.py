"""mix.schedule adaptive: source-pure block pools sized for the replay bounds, beside the QA stream."""

import json

import numpy as np
import pytest

from cptpipe.errors import UserError
from cptpipe.mix.plan import POOL_MARGIN, MixBlocks, build_mix
from cptpipe.params import MixParams
from tests.helpers import recipe_spec


def adaptive_mix(token_dir, out, **mix) -> tuple[dict, dict]:
    params = MixParams(tokens=6000, schedule="adaptive", **mix)
    report = build_mix(token_dir, out, mix=params, recipe="pit", spec=recipe_spec("pit"), seq_len=64, seed=0)
    return report, json.loads((out / "phases.json").read_text())


def test_pools_hold_one_source_each_and_cover_the_most_the_bounds_allow(token_dir, tmp_path):
    report, meta = adaptive_mix(token_dir, tmp_path, replay=0.1, instruct=0.05, replay_bounds=[0.02, 0.4])
    qa, docs = meta["phases"]
    assert "file" in qa and "adaptive" not in qa  # a phase without documents keeps its fixed index
    spec = docs["adaptive"]
    assert set(spec["pools"]) == {"domain", "replay", "instruct"} and "interleave" in docs
    stream = docs["tokens"]  # the documents stream: domain + replay + instruct, QA rides beside
    start = spec["start_shares"]
    qa_share = (1 - 0.1 - 0.05) * 0.2  # pit docs_qa: qa weight 0.2 of what replay and instructions leave
    assert start["replay"] == pytest.approx(0.1 / (1 - qa_share), rel=1e-3)  # a share of the stream, QA aside
    assert sum(start.values()) == pytest.approx(1.0)
    most = {"domain": 1 - 0.02 - start["instruct"], "replay": 0.4, "instruct": start["instruct"]}
    pools = report["phases"][1]["pools"]
    for name, pool in spec["pools"].items():
        blocks = MixBlocks(tmp_path / pool["file"], token_dir, 64, 0, doc_attention_mask=True)
        assert set(blocks.source.tolist()) == {name} and len(blocks) == pool["blocks"]
        assert pools[name]["used"] >= most[name] * stream * (1 + POOL_MARGIN) - 64
    # the phase's length: its budget at the starting shares, each source at its pool's tokens per block
    per_block = {k: pools[k]["used"] / pools[k]["blocks"] for k in pools}
    assert docs["blocks"] == round(sum(stream * start[k] / per_block[k] for k in start))
    assert docs["doc_attention_mask"]  # instruction pairs packed beside each other see only themselves


def test_a_domain_pool_prefix_covers_whole_passes(token_dir, tmp_path):
    """Pools keep the sampling order (a pass is a permutation of the rows): a run that draws fewer domain
    blocks than the pool holds still sees every document about equally often."""
    adaptive_mix(token_dir, tmp_path, replay=0.1, replay_bounds=[0.0, 0.5])
    domain = MixBlocks(tmp_path / "1-docs_qa.domain.parquet", token_dir, 64, 0, doc_attention_mask=True)
    half = domain.bounds[len(domain) // 2]
    starts = domain.start[:half]
    _, counts = np.unique(starts[domain.pos0[:half] == 0], return_counts=True)
    assert counts.max() - counts.min() <= 1


def test_bounds_that_leave_no_room_for_documents_are_refused(token_dir, tmp_path):
    with pytest.raises(UserError, match=r"mix.replay_bounds: high 0.9"):
        adaptive_mix(token_dir, tmp_path, replay=0.1, instruct=0.15, replay_bounds=[0.0, 0.9])

"""ingest.engine: ray gives the same shard bytes and the same report as engine: local, on the shipped
corpus and on a generated one with planted exact and near duplicates (chains and clusters included).
A local Ray runtime of 2 CPUs starts once for the module; ray is a test dependency (the dev extra),
so its absence fails here rather than skipping."""

import hashlib
import json
import random
from pathlib import Path

import pyarrow as pa
import pytest
import ray

from cptpipe.data.encode import tokenize_source
from cptpipe.data.engine import RayEngine
from cptpipe.data.ingest import run_ingest
from cptpipe.params import DedupParams, IngestParams, QAParams
from cptpipe.qa import generate
from tests.data.ingest_corpus import near_copy, prose
from tests.helpers import tiny_tokenizer
from tests.qa.conftest import corpus_docs

ROOT = Path(__file__).resolve().parents[2]
HOW_IT_RAN = ("seconds", "mb_per_s", "engine")  # timings and the engine itself: everything else must match


@pytest.fixture(scope="module", autouse=True)
def ray_runtime():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield
    ray.shutdown()


def ingest_with(raw: Path, out: Path, **kw) -> tuple[dict, dict]:
    """(md5 of every output file, the report without how-it-ran fields)."""
    out.mkdir(parents=True)
    report = run_ingest(raw, out, IngestParams(**kw), seed=0)
    digests = {p.name: hashlib.md5(p.read_bytes()).hexdigest() for p in sorted(out.iterdir())}
    return digests, {k: v for k, v in report.items() if k not in HOW_IT_RAN}


def planted_corpus(raw: Path) -> dict[str, int]:
    """~2.5 MB in .txt files and .jsonl dumps (several scan tasks); returns the planted duplicate counts."""
    rng = random.Random(5)
    raw.mkdir(parents=True)
    bases = [prose(rng, 300) for _ in range(40)]
    rows: list[str] = []
    for i, text in enumerate(bases[:20]):  # exact copies: whitespace differences vanish in normalization
        (raw / f"orig{i:02d}.txt").write_text(text)
        rows.append(text.replace(". ", ".  "))
    for i, text in enumerate(bases[20:30]):  # clusters: a base and three near copies of it
        (raw / f"base{i:02d}.txt").write_text(text)
        rows += [near_copy(text, rng) for _ in range(3)]
    for text in bases[30:]:  # chains a ~ b ~ c, where c drifts further from a
        b = near_copy(text, rng, changes=5)
        rows += [text, b, near_copy(b, rng, changes=5)]
    rows += [prose(rng, 250) for _ in range(1300)]  # distinct filler
    rng.shuffle(rows)
    for k in range(0, len(rows), 200):
        with open(raw / f"dump{k // 200:02d}.jsonl", "w") as f:
            f.writelines(json.dumps({"text": t}) + "\n" for t in rows[k : k + 200])
    return {"exact": 20, "near_at_least": 30}


def test_shipped_corpus_same_shards_and_report(tmp_path):
    local = ingest_with(ROOT / "data/raw", tmp_path / "local", engine="local", workers=1)
    on_ray = ingest_with(ROOT / "data/raw", tmp_path / "ray", engine="ray")
    assert local[0] == on_ray[0] and local[1] == on_ray[1]
    assert local[1]["docs_kept"] > 400


def test_planted_duplicates_same_shards_and_report_on_any_engine(tmp_path):
    raw = tmp_path / "raw"
    planted = planted_corpus(raw)
    # small shards: many shard-writing tasks, each cut where a sequential writer would cut
    kw = dict(dedup=DedupParams(exact=True, near=0.8), shard_docs=200, min_chars=100)
    local = ingest_with(raw, tmp_path / "local", engine="local", workers=1, **kw)
    local2 = ingest_with(raw, tmp_path / "local2", engine="local", workers=2, partitions=3, **kw)
    on_ray = ingest_with(raw, tmp_path / "ray", engine="ray", partitions=11, **kw)
    assert local == local2 == on_ray
    report = on_ray[1]
    assert report["duplicates"]["exact"] == planted["exact"]
    assert report["duplicates"]["near"] >= planted["near_at_least"]
    assert sum(name.startswith("shard-") for name in on_ray[0]) > 5


@pytest.mark.parametrize("source,take,batch", [("replay", 60_000, 4), ("instruct", None, 64)])
def test_tokenize_on_ray_writes_the_local_shard(tmp_path, source, take, batch):
    """Documents (replay, stopped by replay_take) and prompt/answer pairs (instruct) encoded as Ray
    tasks, several windows of them: the same bytes as encoding in this process."""
    tok = tiny_tokenizer()
    digests = []
    for name, engine in (("local", None), ("ray", RayEngine(ray))):
        out = tmp_path / name
        out.mkdir()
        meta = tokenize_source(
            source, tok, ROOT / "data" / source, out, batch_rows=batch, replay_take=take, engine=engine
        )
        digests.append({p.name: hashlib.md5(p.read_bytes()).hexdigest() for p in sorted(out.iterdir())})
    assert meta["rows"] > 3 * 2 * 2 * batch  # more than 3 windows (2 batches per worker, 2 workers)
    assert digests[0] == digests[1]


def test_qa_rules_on_ray_give_the_local_rows(monkeypatch):
    """The rules generator's mining as Ray tasks (slices of 16 units): same rows, same report."""
    monkeypatch.setattr(generate, "RULES_TASK_UNITS", 16)
    table = pa.Table.from_pylist(corpus_docs(80))
    params = QAParams(per_doc=8, paraphrases=2)
    local_rows, local_report = generate.build_qa(table, params, seed=0)
    ray_rows, ray_report = generate.build_qa(table, params, seed=0, engine=RayEngine(ray))
    assert len(local_rows) > 300 and local_report["units"] > 3 * 16
    assert ray_rows == local_rows
    assert {k: v for k, v in ray_report.items() if k != "seconds"} == {
        k: v for k, v in local_report.items() if k != "seconds"
    }

"""The mix stage: token shards + recipe -> data/mix/<phase>.parquet indexes + reports/mix.json."""

from __future__ import annotations

import json
import math
import mmap
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from cptpipe.errors import UserError
from cptpipe.mix.index import add_shares, build_phase, build_pool, eligible_rows
from cptpipe.mix.pack import CHUNK, BlockIndex
from cptpipe.mix.recipes import DOCUMENT_SOURCES, PAIR_SOURCES, PhasePlan, plan_recipe
from cptpipe.params import SOURCES, MixParams, RecipeParams

POOL_MARGIN = 0.05  # an adaptive pool holds this much more than its largest expected draw; beyond, it wraps


def build_mix(
    tokens_dir: Path, out_dir: Path, *, mix: MixParams, recipe: str, spec: RecipeParams, seq_len: int, seed: int
) -> dict:
    """Write one sampling index per phase of `spec` (the recipe named `recipe`) and phases.json."""
    sources = {}
    for name in SOURCES:
        if not (tokens_dir / name / "meta.json").exists():
            raise UserError(f"{tokens_dir / name}: no token shard; run `dvc repro tokenize@{name}`")
        sources[name] = read_rows(tokens_dir / name)
    train_tokens = {k: int(v["length"][eligible_rows(k, v["split"])].sum()) for k, v in sources.items()}
    rng = np.random.default_rng(seed)
    phases = []
    report = {
        "recipe": recipe,
        "seq_len": seq_len,
        "seed": seed,
        "phases": [],
        "doc_attention_mask": mix.doc_attention_mask,
    }
    for i, plan in enumerate(plan_recipe(spec, mix, train_tokens)):
        entry, rep = write_phase(out_dir, f"{i}-{plan.name}", plan, sources, mix, seq_len, rng)
        phases.append(entry)
        report["phases"].append({"name": plan.name, "budget": plan.budget, "shares": plan.shares, **rep})
    (out_dir / "phases.json").write_text(
        json.dumps(
            {"recipe": recipe, "seq_len": seq_len, "phases": phases, "doc_attention_mask": mix.doc_attention_mask},
            indent=2,
            sort_keys=True,
        )
        + "\n"
    )
    return report


def read_rows(source_dir: Path) -> dict[str, np.ndarray]:
    """offset, length (int32 while rows are shorter than 2**31 tokens) and split of every row of one
    token shard (data/tokens/<source>/rows.parquet).

    Only the three columns the mix reads: TokenSource.row_arrays converts every column, doc_id and
    kind included, to Python objects (~100 bytes a row; gigabytes for a source of tens of millions of
    rows). split comes as an object array whose items are the few split names, shared.
    """
    f = pq.ParquetFile(source_dir / "rows.parquet", read_dictionary=["split"])
    n = f.metadata.num_rows
    rows = {"offset": np.empty(n, np.int64), "length": np.empty(n, np.int32), "split": np.empty(n, object)}
    at = 0
    for batch in f.iter_batches(batch_size=CHUNK, columns=["offset", "length", "split"]):  # bounded buffers
        sl = slice(at, at + batch.num_rows)
        rows["offset"][sl], length = batch.column("offset"), batch.column("length").to_numpy()
        if len(length) and length.max() >= 2**31 and rows["length"].dtype == np.int32:  # a row of 2**31 tokens
            rows["length"] = rows["length"].astype(np.int64)
        rows["length"][sl] = length
        split = batch.column("split")
        rows["split"][sl] = np.asarray(split.dictionary.to_pylist(), object)[split.indices.to_numpy()]
        at += batch.num_rows
    pa.default_memory_pool().release_unused()
    return rows


def write_phase(
    out_dir: Path, stem: str, plan: PhasePlan, sources: dict, mix: MixParams, seq_len: int, rng: np.random.Generator
) -> tuple[dict, dict]:
    """One phase's index file(s) in out_dir: its phases.json entry and its report."""
    if mix.schedule == "adaptive" and DOCUMENT_SOURCES & plan.budgets.keys():
        entry, rep = write_pools(out_dir, stem, plan, sources, mix, seq_len, rng)
    else:
        entry, rep = write_index(out_dir, stem, plan, sources, mix, seq_len, rng)
    # QA inside a documents phase is its own stream of one-pair blocks, interleaved with the document
    # blocks batch by batch (cptpipe.train.interleave.Interleaved): packed among documents, a QA answer
    # would be ~2% of a batch's loss tokens and barely trained.
    if plan.interleave is not None:
        qa_segments, qa_rep = build_phase(sources, plan.interleave, seq_len, rng, pair_sources=PAIR_SOURCES)
        qa_segments.write(out_dir / f"{stem}.qa.parquet")
        entry["interleave"] = {
            "file": f"{stem}.qa.parquet",
            "blocks": qa_rep["blocks"],
            "tokens": qa_rep["tokens"],
            "seq_len": qa_rep["seq_len"],
        }
        if "adaptive" in entry:  # the documents' realised shares are known after training only
            rep["sources"] = {**rep["sources"], **qa_rep["sources"]}
            rep["interleaved_qa"] = qa_summary(qa_rep)
        else:
            rep = _merge_reports(rep, qa_rep)
    return entry, rep


def write_index(
    out_dir: Path, stem: str, plan: PhasePlan, sources: dict, mix: MixParams, seq_len: int, rng: np.random.Generator
) -> tuple[dict, dict]:
    """A phase of a fixed schedule: one index of blocks in training order."""
    budgets = dict(plan.budgets)
    segments, rep = build_phase(
        sources,
        budgets,
        seq_len,
        rng,
        mix.schedule,
        mix.progressive_start,
        pair_sources=PAIR_SOURCES,
        pack_pairs=mix.pack_pairs,
    )
    rep["doc_attention_mask"] = pairs_masked(mix, budgets, packed=rep["packing"] == "packed")
    segments.write(out_dir / f"{stem}.parquet")
    del segments
    entry = {
        "name": plan.name,
        "file": f"{stem}.parquet",
        "blocks": rep["blocks"],
        "tokens": rep["tokens"],
        "seq_len": rep["seq_len"],
        "doc_attention_mask": rep["doc_attention_mask"],
    }
    return entry, rep


def adaptive_shares(budgets: dict[str, int], bounds: list[float]) -> dict[str, float]:
    """The starting shares of an adaptive documents stream: its budgeted shares, the replay share
    clipped into `bounds` and the domain's share what replay and instructions leave."""
    total = sum(budgets.values())
    instruct = budgets.get("instruct", 0) / total
    low, high = bounds
    if high + instruct >= 1:
        raise UserError(
            f"mix.replay_bounds: high {high:g} + the phase's instruction share {instruct:g} leaves no "
            "room for documents; lower mix.replay_bounds[1] or mix.instruct"
        )
    return stream_shares(min(max(budgets.get("replay", 0) / total, low), high), instruct)


def pool_budgets(total: int, shares: dict[str, float], bounds: list[float]) -> dict[str, int]:
    """Tokens to sample per pool: the most the controller can draw of each source within the bounds
    (domain at the lowest replay share, replay at the highest), plus POOL_MARGIN for the draws' luck."""
    most = {"domain": 1 - bounds[0] - shares["instruct"], "replay": bounds[1], "instruct": shares["instruct"]}
    return {k: math.ceil(total * v * (1 + POOL_MARGIN)) for k, v in most.items() if v > 0}


def write_pools(
    out_dir: Path, stem: str, plan: PhasePlan, sources: dict, mix: MixParams, seq_len: int, rng: np.random.Generator
) -> tuple[dict, dict]:
    """A documents phase under mix.schedule adaptive: one pool of source-pure blocks per source, and
    the phase's length in blocks (its budget at the starting shares). The train stage draws each
    block's source by the shares its controller sets (cptpipe.train.adaptive)."""
    total = sum(plan.budgets.values())
    start = adaptive_shares(plan.budgets, mix.replay_bounds)
    pools, reports = {}, {}
    for name, budget in pool_budgets(total, start, mix.replay_bounds).items():
        segments, reports[name] = build_pool(sources, name, budget, seq_len, rng, PAIR_SOURCES)
        segments.write(out_dir / f"{stem}.{name}.parquet")
        pools[name] = {"file": f"{stem}.{name}.parquet", "blocks": reports[name]["blocks"]}
    # a block slot costs the same compute whatever it holds: the phase has the blocks its budget fills
    # at the starting shares, each source at its own pool's tokens per block
    blocks = round(sum(total * start[k] * r["blocks"] / max(1, r["used"]) for k, r in reports.items()))
    adaptive = {
        "pools": pools,
        "start_shares": start,
        "replay_bounds": list(mix.replay_bounds),
        "forgetting_budget": mix.forgetting_budget,
        "seed": int(rng.integers(2**62)),  # the train stage's draw of each block's source
    }
    flag = pairs_masked(mix, plan.budgets)
    entry = {"name": plan.name, "adaptive": adaptive, "blocks": blocks, "tokens": total, "seq_len": seq_len}
    entry["doc_attention_mask"] = flag
    rep = {
        "schedule": "adaptive",
        **adaptive,
        "pools": reports,  # the pools' sampling and packing, where phases.json names their files
        "sources": {k: {"requested": round(total * v), "share_requested": round(v, 6)} for k, v in start.items() if v},
        "blocks": blocks,
        "tokens": total,
        "seq_len": seq_len,
        "doc_attention_mask": flag,
    }
    return entry, rep


def _merge_reports(docs: dict, qa: dict) -> dict:
    """One phase report for the document blocks and the interleaved QA blocks."""
    sources = {**docs["sources"], **qa["sources"]}
    total, requested = add_shares(sources)
    return {
        **docs,
        "sources": sources,
        "tokens": total,
        "requested_tokens": requested,
        "interleaved_qa": qa_summary(qa),
    }


def qa_summary(qa: dict) -> dict:
    """What a documents phase's report says of its interleaved QA stream."""
    return {k: qa[k] for k in ("blocks", "seq_len", "tokens", "padding_tokens")}


def pairs_masked(mix: MixParams, sources, packed: bool = True) -> bool:
    """Whether a phase's blocks carry the block-causal mask: asked for, or pairs packed beside other
    pieces (they see only their own tokens: the answer is conditioned on its question alone, as in
    evaluation)."""
    return mix.doc_attention_mask or (packed and bool(PAIR_SOURCES & set(sources)))


def stream_shares(replay: float, instruct: float) -> dict[str, float]:
    """Shares of a documents stream: the documents take what replay and instructions leave."""
    return {"domain": 1 - replay - instruct, "replay": replay, "instruct": instruct}


def phase_entry(index_file: Path) -> dict:
    """The phases.json entry of one phase index file ({} when there is none)."""
    meta = Path(index_file).parent / "phases.json"
    if not meta.exists():
        return {}
    return next((ph for ph in json.loads(meta.read_text())["phases"] if ph.get("file") == Path(index_file).name), {})


def map_random(path: Path) -> np.ndarray:
    """A 1-D .npy file memory-mapped read-only for random access.

    A block's segments lie at random places in the shards, and the kernel's default readahead turns
    each page fault into a read of up to ~128 KB around it: on the 20 GB sparse shard of bench/mix.py
    a block (~4 segments) took ~22 ms to read, with MADV_RANDOM ~0.1 ms; on a cold disk the default
    is the same amplification in I/O.
    """
    with open(path, "rb") as f:
        version = np.lib.format.read_magic(f)
        read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        shape, fortran, dtype = read_header(f)
        offset = f.tell()
        mapped = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
    if len(shape) != 1 or fortran:
        raise ValueError(f"{path}: not a 1-D token array")
    if hasattr(mmap, "MADV_RANDOM"):
        mapped.madvise(mmap.MADV_RANDOM)
    return np.frombuffer(mapped, dtype, shape[0], offset)


class MixBlocks:
    """A torch Dataset over one phase index: block i -> input_ids, labels, position_ids.

    `seq_len` is the phase's block length (phases.json records it per phase: QA phases hold one
    pair per block, so their blocks are short). With doc_attention_mask (phases.json per phase)
    each item also has `attention_mask`: a (1, seq_len, seq_len) boolean block-causal mask, True
    where a token may attend, so no token sees another document of its block. transformers passes
    a 4D mask to the attention as is; boolean masks need the sdpa (default) or flex attention.

    The index is held as numpy columns: 17 bytes a segment (start, length, pos0, source code) and 4
    a block (where its segments begin); the token shards are memory-mapped.
    """

    def __init__(
        self, index_file: Path, tokens_dir: Path, seq_len: int, pad_id: int, doc_attention_mask: bool | None = None
    ):
        if doc_attention_mask is None:
            doc_attention_mask = bool(phase_entry(index_file).get("doc_attention_mask"))
        self.doc_attention_mask = doc_attention_mask
        index = BlockIndex.read(index_file)
        self.names, self.codes, self.bounds = index.names, index.source, index.bounds
        self.start, self.length, self.pos0 = index.start, index.length, index.pos0
        self.n_blocks = len(self.bounds) - 1
        # token shards as tokenize lays them out (cptpipe.data.tokens), without TokenSource's rows table
        self.tokens = [map_random(tokens_dir / name / "tokens.npy") for name in self.names]
        self.masks = [map_random(tokens_dir / name / "mask.npy") for name in self.names]
        self.seq_len, self.pad_id = seq_len, pad_id

    @property
    def source(self) -> np.ndarray:
        """Source name of every segment (a new array of strings: for inspection, not the training path)."""
        return np.asarray(self.names)[self.codes]

    @property
    def block(self) -> np.ndarray:
        """Block of every segment (a new array)."""
        return np.repeat(np.arange(self.n_blocks), np.diff(self.bounds))

    def __len__(self) -> int:
        return self.n_blocks

    def arrays(self, i: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[str]]:
        ids = np.full(self.seq_len, self.pad_id, np.int64)
        labels = np.full(self.seq_len, -100, np.int64)
        pos = np.zeros(self.seq_len, np.int64)
        at, names = 0, []
        for j in range(self.bounds[i], self.bounds[i + 1]):
            c, s, n = self.codes[j], int(self.start[j]), int(self.length[j])
            tok = np.asarray(self.tokens[c][s : s + n], np.int64)
            ids[at : at + n] = tok
            labels[at : at + n] = np.where(np.asarray(self.masks[c][s : s + n]) > 0, tok, -100)
            pos[at : at + n] = self.pos0[j] + np.arange(n)
            names.append(self.names[c])
            at += n
        return ids, labels, pos, names

    def documents(self, i: int) -> np.ndarray:
        """Document number of each position of block i: every segment is one document (a piece that
        continues from the previous block starts the block), the padding tail is one more."""
        doc = np.full(self.seq_len, self.bounds[i + 1] - self.bounds[i], np.int64)
        lengths = self.length[self.bounds[i] : self.bounds[i + 1]]
        doc[: int(lengths.sum())] = np.repeat(np.arange(len(lengths)), lengths)
        return doc

    def __getitem__(self, i: int):
        import torch

        ids, labels, pos, _ = self.arrays(i)
        item = {
            "input_ids": torch.from_numpy(ids),
            "labels": torch.from_numpy(labels),
            "position_ids": torch.from_numpy(pos),
        }
        if self.doc_attention_mask:
            doc = torch.from_numpy(self.documents(i))
            causal = torch.ones(self.seq_len, self.seq_len, dtype=torch.bool).tril()
            item["attention_mask"] = ((doc[:, None] == doc[None, :]) & causal).unsqueeze(0)
        return item

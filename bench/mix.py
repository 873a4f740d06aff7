"""Mix at scale: time and peak memory of the `mix` stage and of the train-time index reader on a
synthetic 10-billion-token source, with no token bytes on disk.

    .venv/bin/python bench/mix.py                          # 1e10 tokens (~20 M domain rows), seq_len 2048
    .venv/bin/python bench/mix.py --tokens 1e8 1e9 1e10    # the slope: one row of figures per size
    .venv/bin/python bench/mix.py --tokens 1e9 --seq-len 512 --schedule progressive
    .venv/bin/python bench/mix.py --keep /tmp/mixbench     # keep (or reuse) the synthetic sources there

sources: four token folders as the tokenize stage lays them out (rows.parquet, meta.json, tokens.npy,
mask.npy), where tokens.npy and mask.npy are sparse files (a valid .npy header, then a hole: they read
as zeros and take no disk): domain holds --tokens tokens in rows of lognormal length (median ~300,
mean ~500, a long tail cut into seq_len pieces), replay 10% of that, qa and instruct 2% each in pairs
of lognormal length (mean ~120); 5% of rows are held out. Every row has a doc_id, as real shards do.
mix: `build_mix` (the stage's library call: read row metadata, sample, order, pack, write Parquet)
in a child process, recipe --recipe with mix.tokens = --tokens (cpt: one documents phase of 92%
domain, 6% replay, 2% instruct). read: `MixBlocks` over every index file the mix wrote (what the
train stage builds before its first step), in another child, then --read blocks read in order.
Peak RSS is the child's VmHWM (for the reader: after loading, before reading blocks); "base" is
its RSS after imports (interpreter, numpy, pyarrow), "above_base" the peak above it, and
bytes_per_piece / bytes_per_segment that figure divided by the count. read_mapped_mb: file-backed
pages of the memory-mapped token shards after reading (kernel readahead included): shared between
processes and reclaimable, so not the index's memory. pieces = sampled pieces (rows, or seq_len cuts
of rows), segments = rows of the index files, blocks = training sequences.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT)]

CHUNK_ROWS = 1 << 20
SHARES = {"domain": 1.0, "replay": 0.1, "qa": 0.02, "instruct": 0.02}  # source tokens, as a share of --tokens
PAIRS = {"qa", "instruct"}


def status_mb() -> dict[str, float]:
    """VmHWM (peak resident memory), RssAnon (heap: the index) and RssFile (mapped files), in MB."""
    status = dict(line.split(":", 1) for line in Path("/proc/self/status").read_text().splitlines())
    return {k: int(status[k].split()[0]) / 1024 for k in ("VmHWM", "RssAnon", "RssFile")}


def rss_mb() -> float:
    """Peak resident memory of this process so far (MB). Not ru_maxrss: Linux carries the parent's peak
    over fork and exec into a child's ru_maxrss."""
    return status_mb()["VmHWM"]


def sparse_npy(path: Path, dtype: np.dtype, n: int) -> None:
    """A 1-D .npy of n zeros that takes no disk: the header, then a hole up to the file's length."""
    header = np.lib.format.header_data_from_array_1_0(np.empty(0, dtype))
    header["shape"] = (n,)
    with open(path, "wb") as f:
        np.lib.format.write_array_header_1_0(f, header)
        f.truncate(f.tell() + n * np.dtype(dtype).itemsize)


def write_source(folder: Path, name: str, tokens: int, seed: int) -> dict:
    """rows.parquet / meta.json / sparse tokens.npy and mask.npy of one synthetic source of ~tokens tokens."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from cptpipe.data.tokens import ROW_SCHEMA

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    mean, sigma = (120, 0.5) if name in PAIRS else (500, 1.0)
    n_rows = max(1, round(tokens / mean))
    mu = np.log(mean) - sigma**2 / 2  # lognormal with this mean
    offset, by_split = 0, {"train": 0, "heldout": 0}
    splits = pa.array(["train", "heldout"])
    with pq.ParquetWriter(folder / "rows.parquet", ROW_SCHEMA) as w:
        for lo in range(0, n_rows, CHUNK_ROWS):
            n = min(CHUNK_ROWS, n_rows - lo)
            lengths = np.maximum(2, rng.lognormal(mu, sigma, n)).astype(np.int64)
            heldout = rng.random(n) < 0.05
            offsets = offset + np.concatenate([[0], np.cumsum(lengths)[:-1]])
            offset += int(lengths.sum())
            by_split["heldout"] += int(lengths[heldout].sum())
            by_split["train"] += int(lengths[~heldout].sum())
            ids = pa.array(np.arange(lo, lo + n, dtype=np.int64))
            table = pa.table(
                {
                    "row": ids,
                    "offset": offsets,
                    "length": lengths,
                    "split": splits.take(pa.array(heldout.astype(np.int8))),
                    "doc_id": ids.cast(pa.string()),
                    "kind": pa.repeat(pa.scalar(name), n),
                },
                schema=ROW_SCHEMA,
            )
            w.write_table(table)
    sparse_npy(folder / "tokens.npy", np.uint16, offset)
    sparse_npy(folder / "mask.npy", np.uint8, offset)
    meta = {"source": name, "dtype": "uint16", "vocab_size": 32000, "rows": n_rows, "tokens": offset}
    meta["tokens_by_split"] = by_split
    (folder / "meta.json").write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")
    return meta


def sources(root: Path, tokens: int) -> dict[str, dict]:
    """The four synthetic sources under root (reused when root already holds them at this size)."""
    stamp = root / "bench.json"
    if stamp.exists() and json.loads(stamp.read_text()).get("tokens") == tokens:
        return json.loads(stamp.read_text())["sources"]
    metas = {
        name: write_source(root / name, name, int(tokens * share), i) for i, (name, share) in enumerate(SHARES.items())
    }
    stamp.write_text(json.dumps({"tokens": tokens, "sources": metas}))
    return metas


def child_mix(tokens_dir: str, out_dir: str, tokens: int, seq_len: int, recipe: str, schedule: str) -> None:
    """In a child: build_mix as the stage calls it; print one JSON line of figures."""
    import dataclasses
    import warnings

    from cptpipe.mix.plan import build_mix
    from cptpipe.params import load_params

    p = load_params(ROOT / "params.yaml")
    mix = dataclasses.replace(p.mix, tokens=tokens, domain_epochs=None, schedule=schedule)
    base = rss_mb()
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # repeats of the small sources
        report = build_mix(
            Path(tokens_dir), Path(out_dir), mix=mix, recipe=recipe, spec=p.recipes[recipe], seq_len=seq_len, seed=0
        )
    dt = time.perf_counter() - t0
    phases = report["phases"]
    pieces = sum(s["pieces"] for ph in phases for s in ph["sources"].values())
    blocks = sum(ph["blocks"] + ph.get("interleaved_qa", {}).get("blocks", 0) for ph in phases)
    used = sum(ph["tokens"] for ph in phases)
    print(
        json.dumps(
            {"seconds": dt, "base_mb": base, "peak_mb": rss_mb(), "pieces": pieces, "blocks": blocks, "tokens": used}
        )
    )


def child_read(mix_dir: str, tokens_dir: str, n_read: int) -> None:
    """In a child: MixBlocks over every index file of the mix (as train builds them), then n_read blocks in order."""
    from cptpipe.mix.plan import MixBlocks

    base = rss_mb()
    phases = json.loads((Path(mix_dir) / "phases.json").read_text())["phases"]
    t0 = time.perf_counter()
    datasets = []
    for ph in phases:
        datasets.append(MixBlocks(Path(mix_dir) / ph["file"], Path(tokens_dir), ph["seq_len"], 0))
        if "interleave" in ph:
            datasets.append(
                MixBlocks(Path(mix_dir) / ph["interleave"]["file"], Path(tokens_dir), ph["interleave"]["seq_len"], 0)
            )
    load = time.perf_counter() - t0
    peak = rss_mb()  # loading is where the index's memory peaks
    segments = sum(int(d.length.shape[0]) for d in datasets)
    big = max(datasets, key=len)
    t0 = time.perf_counter()
    first = len(big) // 2
    for i in range(first, min(len(big), first + n_read)):
        big.arrays(i)
    per_block = (time.perf_counter() - t0) / max(1, min(n_read, len(big) - first))
    # file-backed pages of the memory-mapped token shards that reading touched (readahead included):
    # shared with every process mapping them and dropped by the kernel under pressure
    mapped = status_mb()["RssFile"]
    print(
        json.dumps(
            {
                "load_seconds": load,
                "per_block_us": per_block * 1e6,
                "base_mb": base,
                "peak_mb": peak,
                "segments": segments,
                "mapped_mb": mapped,
            }
        )
    )


def run_child(*args: str) -> dict:
    out = subprocess.run([sys.executable, __file__, *args], capture_output=True, text=True)
    if out.returncode:
        sys.exit(f"child {args[0]} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def bench(tokens: int, args: argparse.Namespace, root: Path) -> dict:
    t0 = time.perf_counter()
    metas = sources(root / "tokens", tokens)
    gen = time.perf_counter() - t0
    rows = sum(m["rows"] for m in metas.values())
    mix_dir = root / f"mix-{tokens:.0e}-{args.seq_len}-{args.recipe}-{args.schedule}"
    mix_dir.mkdir(parents=True, exist_ok=True)
    for f in mix_dir.iterdir():
        f.unlink()
    m = run_child(
        "--child-mix", str(root / "tokens"), str(mix_dir), str(tokens), str(args.seq_len), args.recipe, args.schedule
    )
    r = run_child("--child-read", str(mix_dir), str(root / "tokens"), str(args.read))
    disk = sum(f.stat().st_size for f in mix_dir.glob("*.parquet"))
    row = {
        "tokens": m["tokens"],
        "source_rows": rows,
        "pieces": m["pieces"],
        "segments": r["segments"],
        "blocks": m["blocks"],
        "mix_s": round(m["seconds"], 1),
        "mix_peak_mb": round(m["peak_mb"]),
        "mix_above_base_mb": round(m["peak_mb"] - m["base_mb"]),
        "read_load_s": round(r["load_seconds"], 2),
        "read_peak_mb": round(r["peak_mb"]),
        "read_above_base_mb": round(r["peak_mb"] - r["base_mb"]),
        "read_us_per_block": round(r["per_block_us"], 1),
        "read_mapped_mb": round(r["mapped_mb"]),
        "index_disk_mb": round(disk / 1e6, 1),
    }
    row["mix_bytes_per_piece"] = round((m["peak_mb"] - m["base_mb"]) * 2**20 / max(1, m["pieces"]), 1)
    row["read_bytes_per_segment"] = round((r["peak_mb"] - r["base_mb"]) * 2**20 / max(1, r["segments"]), 1)
    row["uint16_token_gb"] = round(m["tokens"] * 2 / 1e9, 1)
    print(f"  (synthetic sources: {rows:,} rows in {gen:.0f} s, {root / 'tokens'})", flush=True)
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument(
        "--tokens", type=float, nargs="+", default=[1e10], help="mix budget(s) in tokens; domain holds as many"
    )
    ap.add_argument("--seq-len", type=int, default=2048)
    ap.add_argument("--recipe", default="cpt", help="a recipe of params.yaml (cpt: one documents phase)")
    ap.add_argument("--schedule", default="constant", choices=["constant", "progressive"])
    ap.add_argument("--read", type=int, default=2000, help="blocks read in order after loading the index")
    ap.add_argument("--keep", type=Path, help="folder for the synthetic sources and indexes (default: a temp dir)")
    args = ap.parse_args()
    tmp = None if args.keep else tempfile.TemporaryDirectory(prefix="mixbench-")
    root = args.keep or Path(tmp.name)
    rows = []
    for t in args.tokens:
        print(f"mix of {t:.0e} tokens, seq_len {args.seq_len}, recipe {args.recipe}, {args.schedule}", flush=True)
        row = bench(int(t), args, root / f"{t:.0e}")
        print("  " + json.dumps(row), flush=True)
        rows.append(row)
    keys = list(rows[0])
    print("\n| " + " | ".join(keys) + " |\n|" + "---|" * len(keys))
    for row in rows:
        print("| " + " | ".join(f"{row[k]:,}" if isinstance(row[k], int) else str(row[k]) for k in keys) + " |")
    if tmp:
        tmp.cleanup()


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child-mix":
        a = sys.argv[2:]
        child_mix(a[0], a[1], int(a[2]), int(a[3]), a[4], a[5])
    elif len(sys.argv) > 1 and sys.argv[1] == "--child-read":
        child_read(sys.argv[2], sys.argv[3], int(sys.argv[4]))
    else:
        main()

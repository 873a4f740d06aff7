"""Ingest throughput, memory and dedup quality on a generated mixed corpus (~200 MB by default).

    .venv/bin/python bench/ingest.py               # build ~200 MB in a temp dir, ingest with/without near-dedup
    .venv/bin/python bench/ingest.py --mb 20       # a smaller corpus
    .venv/bin/python bench/ingest.py --keep DIR    # build (or reuse) the corpus in DIR and keep it
    .venv/bin/python bench/ingest.py --engine ray  # one engine (default: both, local and a local Ray runtime)

corpus: Zipf-distributed pseudo-words (20k vocabulary, 2% with Latin-1 accents) as prose documents of
300-1500 words: ~30% small .txt/.md files in nested folders (5% of them Latin-1), ~15% .html pages
with script/nav/footer boilerplate, ~30% two big .jsonl files (split into pieces), ~20% one .parquet
file, a few .pdf manuals; plus planted duplicates: --pairs exact copies (CRLF + double spaces, as .md)
and --pairs near copies (1% of the words replaced, true Jaccard ~0.9).
Each ingest runs `run_ingest` with the default params.yaml ingest section (workers: all cores) in a
child process, with ingest.engine local and ray (a local Ray runtime of `workers` CPUs started by the
stage); peak RSS, sampled every 0.1 s, is reported for the driver (the stage's process), the sum of
its workers, the largest worker, and Ray's own daemons. A projection to 1 TB / 100 M documents on N
nodes follows from the per-document costs measured on the Ray run (assumptions printed with it).
Dedup quality: a planted pair counts as found when one side is dropped as a duplicate of the other;
precision is over all duplicate drops (a drop pairing two unplanted documents is a false merge).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT)]
SYLLABLES = [
    "ka",
    "lo",
    "mir",
    "te",
    "sun",
    "dra",
    "vel",
    "os",
    "ni",
    "bar",
    "qu",
    "en",
    "tor",
    "li",
    "ma",
    "ret",
    "an",
    "is",
    "go",
    "pe",
    "dul",
    "ham",
    "ce",
    "ri",
]
ACCENTED = ["é", "à", "ü", "ç", "ø", "ñ"]


class Prose:
    """Seeded Zipfian pseudo-English: distinct documents share almost no 5-gram."""

    def __init__(self, seed: int = 0, vocab: int = 20_000):
        self.rng = np.random.default_rng(seed)
        words = set()
        while len(words) < vocab:
            w = "".join(self.rng.choice(SYLLABLES, self.rng.integers(1, 4)))
            if self.rng.random() < 0.02:
                w += str(self.rng.choice(ACCENTED))
            words.add(w)
        self.vocab = np.array(sorted(words), dtype=object)
        self.rng.shuffle(self.vocab)
        p = 1.0 / np.arange(1, vocab + 1) ** 1.05
        self.p = p / p.sum()

    def doc(self, n_words: int) -> str:
        words = self.vocab[self.rng.choice(len(self.vocab), n_words, p=self.p)]
        cuts = np.cumsum(self.rng.integers(8, 20, n_words // 8 + 2))
        sentences = [" ".join(words[a:b]).capitalize() + "." for a, b in zip(np.r_[0, cuts], cuts) if a < n_words]
        return "\n\n".join(" ".join(sentences[i : i + 5]) for i in range(0, len(sentences), 5))

    def near(self, text: str) -> str:
        """1% of the words replaced: true Jaccard of 5-gram shingles ~0.9 at any length."""
        words = text.split(" ")
        for i in self.rng.choice(len(words), max(1, len(words) // 100), replace=False):
            words[i] = str(self.rng.choice(self.vocab))
        return " ".join(words)


def build_corpus(raw: Path, mb: float, pairs: int, seed: int = 0) -> dict:
    """Write the mixed corpus; return the planted (original, copy) source pairs."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from tests.data.ingest_corpus import write_pdf

    gen, budget = Prose(seed), mb * 1e6
    sizes = lambda: int(gen.rng.integers(300, 1500))  # noqa: E731
    planted: dict[str, list] = {"exact": [], "near": []}
    (raw / "dups").mkdir(parents=True)
    originals: list[tuple[str, str]] = []

    def fill(share: float, write_one) -> None:
        used = 0
        while used < share * budget:
            used += write_one()

    count = [0]

    def small_file() -> int:
        i = count[0] = count[0] + 1
        folder = raw / f"wiki/section{i % 40:02d}"
        folder.mkdir(parents=True, exist_ok=True)
        text = gen.doc(sizes())
        if i % 20 == 0:  # Latin-1 export
            data = text.encode("latin-1")
            (folder / f"page{i:06d}.txt").write_bytes(data)
            return len(data)
        name = f"wiki/section{i % 40:02d}/page{i:06d}.{'md' if i % 3 else 'txt'}"
        (raw / name).write_text(text)
        if len(originals) < 2 * pairs and i % 3 == 1:
            originals.append((name, text))
        return len(text)

    def html_page() -> int:
        i = count[0] = count[0] + 1
        folder = raw / f"site/{i % 20:02d}"
        folder.mkdir(parents=True, exist_ok=True)
        body = "".join(f"<p>{p}</p>" for p in gen.doc(sizes()).split("\n\n"))
        page = (
            f"<html><head><title>Page {i}</title><script>var t={i};</script><style>p{{margin:0}}</style>"
            f"</head><body><nav><a href='/'>Home</a> <a href='/a'>About</a></nav><main>{body}</main>"
            "<footer>Copyright Example Corp. All rights reserved.</footer></body></html>"
        )
        (folder / f"p{i:06d}.{'htm' if i % 4 == 0 else 'html'}").write_text(page)
        return len(page)

    fill(0.30, small_file)
    fill(0.15, html_page)
    for k in range(2):
        with open(raw / f"dump-{k}.jsonl", "w") as f:
            used, n = 0, 0
            while used < 0.15 * budget:
                n += 1
                line = json.dumps({"text": gen.doc(sizes()), "url": f"https://example.org/{k}/{n}", "lang": "xx"})
                f.write(line + "\n")
                used += len(line)
    with pq.ParquetWriter(raw / "table.parquet", pa.schema([("text", pa.string()), ("id", pa.int64())])) as w:
        n = 0
        while (raw / "table.parquet").stat().st_size < 0.20 * budget:  # on-disk (compressed) bytes
            texts = [gen.doc(sizes()) for _ in range(500)]
            w.write_table(pa.table({"text": texts, "id": list(range(n, n + len(texts)))}))
            n += len(texts)
    (raw / "manuals").mkdir()
    for i in range(max(2, int(mb / 10))):
        write_pdf(raw / f"manuals/manual{i:03d}.pdf", gen.doc(3000), title=f"Manual {i}")
    for i, (name, text) in enumerate(originals[:pairs]):
        copy = f"dups/exact{i:05d}.md"
        (raw / copy).write_bytes(text.replace("\n", "\r\n").replace(". ", ".  ").encode())
        planted["exact"].append((name, copy))
    for i, (name, text) in enumerate(originals[pairs : 2 * pairs]):
        copy = f"dups/near{i:05d}.txt"
        (raw / copy).write_text(gen.near(text))
        planted["near"].append((name, copy))
    return planted


def near_threshold() -> float:
    from cptpipe.params import load_params

    return load_params(ROOT / "params.yaml").ingest.dedup.near


def child(raw: str, out: str, near: str, engine: str) -> None:
    """One ingest in this process (and its workers), with the repository's params."""
    import psutil

    from cptpipe.data.ingest import run_ingest
    from cptpipe.params import load_params

    params = load_params(ROOT / "params.yaml").ingest
    params.dedup.near = None if near == "none" else params.dedup.near
    params.engine = engine
    params.workers = params.workers or os.cpu_count()
    if engine == "ray":  # started here, the stage joins it: its start-up is in "wall s", not in "seconds"
        import ray

        ray.init(num_cpus=params.workers, include_dashboard=False, log_to_driver=False)
    # after imports and runtime start: what the driver holds and has spent before any document
    base_rss, base_cpu = psutil.Process().memory_info().rss, _cpu_seconds()
    Path(out).mkdir(parents=True)
    report = run_ingest(Path(raw), Path(out), params, seed=0)
    report.update(driver_base_rss=base_rss, driver_cpu_s=_cpu_seconds() - base_cpu)
    (Path(out) / "report.json").write_text(json.dumps(report))


def _cpu_seconds() -> float:
    cpu = resource.getrusage(resource.RUSAGE_SELF)  # this process's own CPU, not its workers'
    return cpu.ru_utime + cpu.ru_stime


def measured_run(raw: Path, out: Path, near: str, engine: str) -> tuple[dict, dict, float]:
    """(report, peak RSS in bytes of the driver / all its workers summed / the largest worker / the Ray
    runtime's own daemons, wall seconds incl. start-up), sampled every 0.1 s."""
    import psutil

    t0 = time.time()
    cmd = [sys.executable, __file__, "--child", str(raw), str(out), near, engine]
    proc = subprocess.Popen(cmd, stderr=subprocess.DEVNULL)
    ps, peak = psutil.Process(proc.pid), dict(driver=0, workers=0, worker_max=0, runtime=0)
    while proc.poll() is None:
        try:
            workers, runtime = [], 0
            for c in ps.children(recursive=True):
                name, rss = " ".join(c.cmdline()[:1]), c.memory_info().rss
                if engine == "local" or name.startswith("ray::"):  # ray names its task workers ray::<task>
                    workers.append(rss)
                else:
                    runtime += rss  # gcs_server, raylet, log monitor, idle workers' launcher
            sample = dict(driver=ps.memory_info().rss, workers=sum(workers), worker_max=max(workers, default=0))
            for k, v in {**sample, "runtime": runtime}.items():
                peak[k] = max(peak[k], v)
        except psutil.Error:
            pass
        time.sleep(0.1)
    if proc.returncode:
        raise SystemExit(f"ingest child failed with code {proc.returncode}")
    return json.loads((out / "report.json").read_text()), peak, time.time() - t0


def dedup_quality(report: dict, planted: dict) -> dict:
    pairs = {kind: {frozenset(p) for p in ps} for kind, ps in planted.items()}
    found = {"exact_duplicate": set(), "near_duplicate": set()}
    false = 0
    for d in report["drops"]:
        if d["reason"] in found:
            pair = frozenset((d["source"], d["detail"].removeprefix("kept ")))
            if pair in pairs["exact"] | pairs["near"]:
                found[d["reason"]].add(pair)
            else:
                false += 1
    tp = len(found["exact_duplicate"]) + len(found["near_duplicate"])
    return {
        "exact_recall": len(found["exact_duplicate"] & pairs["exact"]) / max(1, len(pairs["exact"])),
        "near_recall": len(found["near_duplicate"] & pairs["near"]) / max(1, len(pairs["near"])),
        "precision": tp / max(1, tp + false),
        "false_merges": false,
    }


CORES_PER_NODE = 32  # projection: a common CPU node
TARGET_BYTES, TARGET_DOCS = 1e12, 100e6  # 1 TB of text in 100 M documents (10 KB each)


def run_all(raw: Path, work: Path, engines: list[str]) -> list[tuple]:
    rows = []
    for engine, near in [(e, "on") for e in engines] + [("local", "none")] * ("local" in engines):
        out = work / f"out-{engine}-{near}"
        shutil.rmtree(out, ignore_errors=True)
        report, peak, wall = measured_run(raw, out, near, engine)
        rows.append((engine, near, report, peak, wall))
        shutil.rmtree(out, ignore_errors=True)
    return rows


def print_runs(rows: list[tuple]) -> None:
    gb = lambda b: f"{b / 2**30:.2f}"  # noqa: E731
    print(
        f"{'engine':<7} {'near-dedup':<11} {'seconds':>8} {'MB/s':>6} {'docs/s':>7} "
        f"{'driver GB':>9} {'workers GB':>10} {'1 worker':>8} {'ray daemons':>11} {'wall s':>7}"
    )
    for engine, near, report, peak, wall in rows:
        s = report["seconds"]
        print(
            f"{engine:<7} {f'on ({near_threshold()})' if near == 'on' else 'off':<11} {s:>8.1f} "
            f"{report['bytes_in'] / 1e6 / s:>6.2f} {report['records_seen'] / s:>7.0f} {gb(peak['driver']):>9} "
            f"{gb(peak['workers']):>10} {gb(peak['worker_max']):>8} {gb(peak['runtime']):>11} {wall:>7.1f}"
        )


def index_bytes_per_doc(n: int = 200_000) -> float:
    """RSS per document of the index the driver holds (ingest.ingest/decide/kept_order: record tuples,
    keys, kept sources, shard order), built for n synthetic documents with bench-like paths. On a small
    corpus the driver's measured RSS per document is dominated by fixed buffers; this is the slope."""
    import hashlib

    import psutil

    before = psutil.Process().memory_info().rss
    ids = [hashlib.sha256(str(i).encode()).hexdigest()[:16] for i in range(n)]
    records = [
        (d, f"wiki/section{i % 40:02d}/page{i:06d}.md", f"wiki/s{i % 40:02d}/p{i:06d}.md", i) for i, d in enumerate(ids)
    ]
    keys = [(d, s) for d, s, _, _ in records]
    keep = {s for _, s, _, _ in records}
    order = sorted((d, s, i // 500, i % 500, c) for i, (d, s, _, c) in enumerate(records))
    kept = [(t, row, c) for _, _, t, row, c in order]
    held = (records, keys, keep, kept)
    return (psutil.Process().memory_info().rss - before) / n if held else 0.0


def projection(report: dict, peak: dict, workers: int) -> None:
    """Per-document costs measured here, scaled to TARGET_BYTES / TARGET_DOCS on N nodes."""
    from cptpipe.data.dedup import NUM_PERM, lsh_bands

    bands = lsh_bands(near_threshold())
    rows_per_band = bands[0][1] - bands[0][0]
    cpu_per_mb = report["seconds"] * workers / (report["bytes_in"] / 1e6)  # all stage time counted as parallel
    driver_measured = max(0, peak["driver"] - report["driver_base_rss"]) / report["records_seen"]
    driver_per_doc = index_bytes_per_doc()
    driver_cpu_per_doc = report["driver_cpu_s"] / report["records_seen"]
    near_per_doc = report["duplicates"]["near"] / report["records_seen"]
    band_task = TARGET_DOCS * (rows_per_band * 4 * 3 + 8)  # band columns, np.unique's sorted copy + inverse; ids
    shuffle = TARGET_DOCS * (NUM_PERM * 4 * 2 + 8 * len(bands) + 16 * len(bands) * near_per_doc)
    print(
        f"\nprojection to {TARGET_BYTES / 1e12:.0f} TB / {TARGET_DOCS / 1e6:.0f} M documents, {CORES_PER_NODE} cores "
        f"per node, engine ray; measured here: {cpu_per_mb:.2f} CPU-s per MB; driver {driver_cpu_per_doc * 1e6:.0f} "
        f"CPU-us per document, its index {driver_per_doc:.0f} B per document ({driver_measured:.0f} B over this "
        f"run: fixed buffers included); {len(bands)} LSH bands of {rows_per_band} rows"
    )
    print(f"{'nodes':>5} {'hours':>6} {'driver GB':>9} {'scan worker GB':>14} {'band task GB':>12} {'shuffle GB':>10}")
    for nodes in (1, 4, 16, 64):
        parallel = cpu_per_mb * TARGET_BYTES / 1e6 / (nodes * CORES_PER_NODE)
        hours = (parallel + driver_cpu_per_doc * TARGET_DOCS) / 3600
        print(
            f"{nodes:>5} {hours:>6.1f} {driver_per_doc * TARGET_DOCS / 1e9:>9.1f} "
            f"{peak['worker_max'] / 2**30:>14.2f} {band_task / 1e9:>12.1f} {shuffle / 1e9:>10.0f}"
        )
    print(
        "assumptions: CPU cost scales with bytes (per-byte cost of this corpus's mix of formats), perfectly parallel "
        "but for the driver's own CPU (serial, per document); a scan worker's memory is bounded by its task "
        f"(<= 16 MB of input) and does not grow with the corpus; a band task holds its band for all documents "
        f"(no sub-partitioning); shuffle = signatures written and read once ({NUM_PERM * 4} B/doc each way), the ids "
        "sent to each band task, candidate pairs ~ near duplicates x bands (16 B each); the spill runs (the corpus, "
        "lz4) are written once and read once by the shard writers on shared storage, not counted; Ray's own "
        "scheduling overhead at 100 M documents, stragglers and storage bandwidth are not modelled"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--mb", type=float, default=200, help="corpus size in MB")
    ap.add_argument("--pairs", type=int, default=400, help="planted exact and near duplicate pairs (each)")
    ap.add_argument("--keep", type=Path, default=None, help="build/reuse the corpus here and keep it")
    ap.add_argument("--engine", choices=["local", "ray", "both"], default="both", help="ingest.engine(s) to run")
    ap.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        return child(*args.child)
    work = args.keep or Path(tempfile.mkdtemp(prefix="cptpipe-bench-ingest-"))
    raw = work / "raw"
    try:
        t0 = time.time()
        if (work / "planted.json").exists():
            planted = json.loads((work / "planted.json").read_text())
        else:
            planted = build_corpus(raw, args.mb, args.pairs)
            (work / "planted.json").write_text(json.dumps(planted))
        print(f"machine: {os.cpu_count()} cores; corpus built in {time.time() - t0:.0f}s")
        rows = run_all(raw, work, ["local", "ray"] if args.engine == "both" else [args.engine])
        r0 = rows[0][2]
        print(
            f"corpus: {r0['bytes_in'] / 1e6:.1f} MB in {r0['files_seen']} files, {r0['records_seen']} documents "
            f"(planted {len(planted['exact'])} exact + {len(planted['near'])} near pairs); kept {r0['docs_kept']}"
        )
        print_runs(rows)
        q = dedup_quality(r0, planted)
        print(
            f"dedup on planted pairs: exact recall {q['exact_recall']:.3f}, near recall {q['near_recall']:.3f}, "
            f"precision {q['precision']:.3f} ({q['false_merges']} false merges)"
        )
        print("dropped (near-dedup on):", r0["dropped"])
        on = [r for r in rows if r[1] == "on"]
        projection(on[-1][2], on[-1][3], r0["engine"]["workers"])
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()

"""Ingest throughput, memory and dedup quality on a generated mixed corpus (~200 MB by default).

    .venv/bin/python bench/ingest.py               # build ~200 MB in a temp dir, ingest with/without near-dedup
    .venv/bin/python bench/ingest.py --mb 20       # a smaller corpus
    .venv/bin/python bench/ingest.py --keep DIR    # build (or reuse) the corpus in DIR and keep it
    .venv/bin/python bench/ingest.py --engine ray  # one engine (default: both, local and a local Ray runtime)
    .venv/bin/python bench/ingest.py --docs 100000,500000,1000000   # scale: small documents, the driver's slopes

corpus: Zipf-distributed pseudo-words (20k vocabulary, 2% with Latin-1 accents) as prose documents of
300-1500 words: ~30% small .txt/.md files in nested folders (5% of them Latin-1), ~15% .html pages
with script/nav/footer boilerplate, ~30% two big .jsonl files (split into pieces), ~20% one .parquet
file, a few .pdf manuals; plus planted duplicates: --pairs exact copies (CRLF + double spaces, as .md)
and --pairs near copies (1% of the words replaced, true Jaccard ~0.9).
Each ingest runs `run_ingest` with the default params.yaml ingest section (workers: all cores) in a
child process, with ingest.engine local and ray (a local Ray runtime of `workers` CPUs started by the
stage); peak RSS, sampled every 0.1 s, is reported for the driver (the stage's process), the sum of
its workers, the largest worker, and Ray's own daemons. A projection to 1 TB / 100 M documents on N
nodes follows from the costs measured (assumptions printed with it).
Scale mode (--docs): corpora of small documents (~0.6 KB, JSONL files of 10,000, 2% planted copies),
ingested with the default params; prints per size the driver's peak RSS and CPU, the largest worker
(sampled) and per pass the largest task's peak RSS (its process's ru_maxrss: a local task runs in a
fresh process), then the slopes per document between the smallest and the largest size and the projection.
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


def child(raw: str, out: str, near: str, engine: str, partitions: str = "auto") -> None:
    """One ingest in this process (and its workers), with the repository's params."""
    import psutil

    from cptpipe.data.ingest import run_ingest
    from cptpipe.params import load_params

    params = load_params(ROOT / "params.yaml").ingest
    params.dedup.near = None if near == "none" else params.dedup.near
    params.engine = engine
    params.workers = params.workers or os.cpu_count()
    params.partitions = None if partitions == "auto" else int(partitions)
    if engine == "ray":  # started here, the stage joins it: its start-up is in "wall s", not in "seconds"
        import ray

        ray.init(num_cpus=params.workers, include_dashboard=False, log_to_driver=False)
    # after imports and runtime start: what the driver holds and has spent before any document
    base_rss, base_cpu = psutil.Process().memory_info().rss, _cpu_seconds()
    Path(out).mkdir(parents=True)
    report = run_ingest(Path(raw), Path(out), params, seed=0)
    # each pooled task's own process reports its CPU (local engine: forked from a fork server, not this
    # process's child, so RUSAGE_CHILDREN misses them); a local engine's inline tasks count as the driver's
    tasks = report["engine"]["tasks"]
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)  # ray's workers (joined by now); ~0 for local
    workers_cpu = sum(t["cpu_s"] for t in tasks.values()) + kids.ru_utime + kids.ru_stime
    report.update(driver_base_rss=base_rss, driver_cpu_s=_cpu_seconds() - base_cpu, workers_cpu_s=workers_cpu)
    (Path(out) / "report.json").write_text(json.dumps(report))


def _cpu_seconds() -> float:
    cpu = resource.getrusage(resource.RUSAGE_SELF)  # this process's own CPU, not its workers'
    return cpu.ru_utime + cpu.ru_stime


def measured_run(raw: Path, out: Path, near: str, engine: str, partitions: str = "auto") -> tuple[dict, dict, float]:
    """(report, peak RSS in bytes of the driver / all its workers summed / the largest worker / the Ray
    runtime's own daemons, wall seconds incl. start-up), sampled every 0.1 s."""
    import psutil

    t0 = time.time()
    cmd = [sys.executable, __file__, "--child", str(raw), str(out), near, engine, partitions]
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


def build_small_docs(raw: Path, n: int, seed: int = 0) -> None:
    """n small documents (40-160 Zipfian words, ~0.6 KB) in JSONL files of 10,000; 1% exact and 1% near
    copies of earlier ones. Words are drawn for a whole file at once (a million documents in about a minute)."""
    gen = Prose(seed)
    cdf = np.cumsum(gen.p)
    raw.mkdir(parents=True)
    originals: list[str] = []
    for start in range(0, n, 10_000):
        count = min(n, start + 10_000) - start
        lengths = gen.rng.integers(40, 160, count)
        words = gen.vocab[np.minimum(np.searchsorted(cdf, gen.rng.random(int(lengths.sum()))), len(cdf) - 1)]
        ends = np.cumsum(lengths)
        with open(raw / f"part-{start // 10_000:05d}.jsonl", "w") as f:
            for k, i in enumerate(range(start, start + count)):
                if originals and i % 50 == 0:  # 2%: a copy of an earlier document, every other one a near copy
                    src = originals[int(gen.rng.integers(len(originals)))]
                    text = gen.near(src) if i % 100 == 0 else src
                else:
                    text = " ".join(words[ends[k] - lengths[k] : ends[k]]).capitalize() + "."
                    if len(originals) < 10_000:
                        originals.append(text)
                f.write(json.dumps({"text": text}) + "\n")


def scale(work: Path, sizes: list[int], docs_per_partition: int | None) -> dict[int, tuple]:
    """Ingest synthetic corpora of these document counts (local engine, near-dedup on); per size the report
    and peak RSS. Prints the driver's slopes: what the stage's own process holds and spends per document."""
    runs = {}
    for n in sizes:
        raw = work / f"docs-{n}"
        if not raw.exists():
            t0 = time.time()
            build_small_docs(raw, n)
            print(f"built {n:,} documents in {time.time() - t0:.0f}s", flush=True)
        out = work / f"out-docs-{n}"
        shutil.rmtree(out, ignore_errors=True)
        parts = str(-(-n // docs_per_partition)) if docs_per_partition else "auto"
        runs[n] = (*measured_run(raw, out, "on", "local", parts), parts)
        shutil.rmtree(out, ignore_errors=True)
    mb = lambda b: f"{b / 2**20:,.0f}"  # noqa: E731
    print(
        f"\n{'documents':>10} {'MB':>6} {'partitions':>10} {'seconds':>8} {'driver MB':>9} {'driver CPU s':>12} "
        f"{'CPU-us/doc':>10} {'workers CPU s':>13} {'largest worker MB':>17} {'largest task MB':>15}"
    )
    for report, peak, _, parts in runs.values():
        grown = max(0, peak["driver"] - report["driver_base_rss"])
        per_doc = report["driver_cpu_s"] / report["records_seen"] * 1e6
        print(
            f"{report['records_seen']:>10,} {report['bytes_in'] / 1e6:>6.0f} {parts:>10} {report['seconds']:>8.1f} "
            f"{mb(grown):>9} {report['driver_cpu_s']:>12.2f} {per_doc:>10.1f} "
            f"{report['workers_cpu_s']:>13.1f} {mb(peak['worker_max']):>17} {largest_task(report):>15.0f}"
        )
    print_task_peaks({n: r[0] for n, r in runs.items()})
    if len(sizes) < 2:  # a slope needs two sizes
        return {"runs": runs}
    (lo, a), (hi, b) = (sizes[0], runs[sizes[0]]), (sizes[-1], runs[sizes[-1]])
    docs = b[0]["records_seen"] - a[0]["records_seen"]
    rss_slope = (b[1]["driver"] - a[1]["driver"]) / docs
    cpu_slope = (b[0]["driver_cpu_s"] - a[0]["driver_cpu_s"]) / docs
    worker_slope = (b[1]["worker_max"] - a[1]["worker_max"]) / docs
    print(
        f"slopes from {lo:,} to {hi:,} documents: driver peak RSS {rss_slope / 1e3:+.4f} KB per document, driver CPU "
        f"{cpu_slope * 1e6:.2f} us per document, largest worker {worker_slope / 1e3:+.4f} KB per document"
    )
    if len(sizes) > 2:  # once partitions reach their size (PARTITION_BYTES), no task grows with the corpus
        c = runs[sizes[-2]]
        tail = (b[1]["worker_max"] - c[1]["worker_max"]) / (b[0]["records_seen"] - c[0]["records_seen"])
        print(f"largest worker from {sizes[-2]:,} to {hi:,} documents: {tail / 1e3:+.4f} KB per document")
    task_slope = (largest_task(b[0]) - largest_task(a[0])) * 2**20 / docs
    print(f"largest task from {lo:,} to {hi:,} documents: {task_slope / 1e3:+.4f} KB per document")
    return {"rss_per_doc": rss_slope, "cpu_per_doc": cpu_slope, "runs": runs}


def largest_task(report: dict) -> float:
    """The largest peak RSS of one pooled task (MB), over every pass."""
    return max((t["peak_rss_mb"] for t in report["engine"]["tasks"].values()), default=0.0)


def print_task_peaks(reports: dict[int, dict]) -> None:
    """Per pass (task function) and corpus size: the pooled tasks and the largest one's peak RSS. A task runs
    in a fresh process, so its peak (ru_maxrss) is its own, imports included."""
    names = list(dict.fromkeys(name for r in reports.values() for name in r["engine"]["tasks"]))
    print(f"\nlargest task per pass, peak RSS MB (tasks): {'  '.join(f'{n:>22}' for n in names)}")
    for n, report in reports.items():
        tasks = report["engine"]["tasks"]
        cells = [f"{tasks[k]['peak_rss_mb']:>8.0f} ({tasks[k]['tasks']:>4})" if k in tasks else "-" for k in names]
        print(f"{n:>42,}: {'  '.join(f'{c:>22}' for c in cells)}")


CORES_PER_NODE = 32  # projection: a common CPU node
TARGET_BYTES, TARGET_DOCS = 1e12, 100e6  # 1 TB of text in 100 M documents (10 KB each)
SLICE_READ_S = 2e-3  # projection: one shuffle read (open + read a slice of a spill file) on shared storage


def projection(cpu_per_mb: float, driver_cpu_per_doc: float, driver_bytes_per_doc: float, worker_max: float) -> None:
    """Measured per-MB and per-document costs, scaled to TARGET_BYTES / TARGET_DOCS on N nodes."""
    from cptpipe.data.dedup import lsh_bands
    from cptpipe.data.ingest import TASK_BYTES
    from cptpipe.data.partitions import BAND_DOCS, PARTITION_BYTES, auto_partitions, band_buckets

    bands = len(lsh_bands(near_threshold()))
    tasks = TARGET_BYTES / TASK_BYTES
    print(
        f"\nprojection to {TARGET_BYTES / 1e12:.0f} TB / {TARGET_DOCS / 1e6:.0f} M documents, {CORES_PER_NODE} cores "
        f"per node, engine ray; measured here: {cpu_per_mb:.2f} CPU-s per MB (all processes), the driver "
        f"{driver_cpu_per_doc * 1e6:.2f} CPU-us and {driver_bytes_per_doc:.1f} B of peak RSS per document"
    )
    print(
        f"{'nodes':>5} {'hours':>6} {'vs linear':>9} {'driver s':>8} {'driver GB':>9} {'partitions':>10} "
        f"{'shuffle reads':>13}"
    )
    first = None
    for nodes in (1, 4, 16, 64):
        workers = nodes * CORES_PER_NODE
        parts = auto_partitions(int(TARGET_BYTES), workers)
        buckets = band_buckets(int(TARGET_DOCS), bands, workers)
        reads = tasks * parts + bands * buckets * parts  # scan -> partitions, partitions -> band buckets
        parallel = (cpu_per_mb * TARGET_BYTES / 1e6 + reads * SLICE_READ_S) / workers
        serial = driver_cpu_per_doc * TARGET_DOCS
        hours = (parallel + serial) / 3600
        first = first or (hours, nodes)
        linear = first[0] * first[1] / nodes
        print(
            f"{nodes:>5} {hours:>6.2f} {hours / linear:>8.2f}x {serial:>8.0f} "
            f"{max(0.0, driver_bytes_per_doc) * TARGET_DOCS / 1e9:>9.2f} {parts:>10,} {reads:>13,.0f}"
        )
    print(
        "assumptions: CPU cost scales with bytes (this corpus's per-byte cost, conservative for 10 KB documents: "
        "per-document overheads weigh more in small ones) and runs in parallel but for the driver's own CPU (serial); "
        f"each shuffle read (a slice of a spill file) costs {SLICE_READ_S * 1e3:.0f} ms of a worker's time on shared "
        f"storage; a scan worker's memory is bounded by its task (<= {TASK_BYTES >> 20} MB of input, "
        f"{worker_max / 2**30:.2f} GB measured), a partition task by its partition (<= {PARTITION_BYTES >> 20} MB "
        f"of input), a band task by its bucket (<= {BAND_DOCS:,} documents); Ray's scheduling overhead, "
        "stragglers and storage bandwidth are not modelled"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--mb", type=float, default=200, help="corpus size in MB")
    ap.add_argument("--pairs", type=int, default=400, help="planted exact and near duplicate pairs (each)")
    ap.add_argument("--keep", type=Path, default=None, help="build/reuse the corpus here and keep it")
    ap.add_argument("--engine", choices=["local", "ray", "both"], default="both", help="ingest.engine(s) to run")
    ap.add_argument(
        "--docs", default=None, help="scale mode: comma-separated document counts, e.g. 100000,500000,1000000"
    )
    ap.add_argument("--docs-per-partition", type=int, default=None, help="scale mode: ingest.partitions = docs / this")
    ap.add_argument("--child", nargs=5, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        return child(*args.child)
    work = args.keep or Path(tempfile.mkdtemp(prefix="cptpipe-bench-ingest-"))
    if args.docs:
        try:
            print(f"machine: {os.cpu_count()} cores")
            out = scale(work, [int(x) for x in args.docs.split(",")], args.docs_per_partition)
            report = out["runs"][max(out["runs"])][0]
            cpu_per_mb = (report["driver_cpu_s"] + report["workers_cpu_s"]) / (report["bytes_in"] / 1e6)
            worker_max = max(r[1]["worker_max"] for r in out["runs"].values())
            if "cpu_per_doc" in out:  # the driver's slopes need two sizes
                projection(cpu_per_mb, out["cpu_per_doc"], out["rss_per_doc"], worker_max)
        finally:
            if args.keep is None:
                shutil.rmtree(work, ignore_errors=True)
        return
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
        report, peak = [r for r in rows if r[1] == "on"][-1][2:4]
        cpu_per_mb = (report["driver_cpu_s"] + report["workers_cpu_s"]) / (report["bytes_in"] / 1e6)
        driver_bytes = max(0, peak["driver"] - report["driver_base_rss"]) / report["records_seen"]
        projection(cpu_per_mb, report["driver_cpu_s"] / report["records_seen"], driver_bytes, peak["worker_max"])
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()

"""Ingest throughput, memory and dedup quality on a generated mixed corpus (~200 MB by default).

    .venv/bin/python bench/ingest.py               # build ~200 MB in a temp dir, ingest with/without near-dedup
    .venv/bin/python bench/ingest.py --mb 20       # a smaller corpus
    .venv/bin/python bench/ingest.py --keep DIR    # build (or reuse) the corpus in DIR and keep it

corpus: Zipf-distributed pseudo-words (20k vocabulary, 2% with Latin-1 accents) as prose documents of
300-1500 words: ~30% small .txt/.md files in nested folders (5% of them Latin-1), ~15% .html pages
with script/nav/footer boilerplate, ~30% two big .jsonl files (split into pieces), ~20% one .parquet
file, a few .pdf manuals; plus planted duplicates: --pairs exact copies (CRLF + double spaces, as .md)
and --pairs near copies (1% of the words replaced, true Jaccard ~0.9).
Each ingest runs `run_ingest` with the default params.yaml ingest section (workers: all cores) in a
child process; peak RSS is the sum over that process and its workers, sampled every 0.1 s.
Dedup quality: a planted pair counts as found when one side is dropped as a duplicate of the other;
precision is over all duplicate drops (a drop pairing two unplanted documents is a false merge).
"""

from __future__ import annotations

import argparse
import json
import os
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


def child(raw: str, out: str, near: str) -> None:
    """One ingest in this process (and its workers), with the repository's params."""
    from cptpipe.data.ingest import run_ingest
    from cptpipe.params import load_params

    params = load_params(ROOT / "params.yaml").ingest
    params.dedup.near = None if near == "none" else params.dedup.near
    Path(out).mkdir(parents=True)
    report = run_ingest(Path(raw), Path(out), params, seed=0)
    (Path(out) / "report.json").write_text(json.dumps(report))


def measured_run(raw: Path, out: Path, near: str) -> tuple[dict, float, float]:
    """(report, peak RSS of the process tree in bytes, wall seconds incl. start-up)."""
    import psutil

    t0 = time.time()
    proc = subprocess.Popen([sys.executable, __file__, "--child", str(raw), str(out), near], stderr=subprocess.DEVNULL)
    ps, peak = psutil.Process(proc.pid), 0
    while proc.poll() is None:
        try:
            rss = ps.memory_info().rss + sum(c.memory_info().rss for c in ps.children(recursive=True))
            peak = max(peak, rss)
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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--mb", type=float, default=200, help="corpus size in MB")
    ap.add_argument("--pairs", type=int, default=400, help="planted exact and near duplicate pairs (each)")
    ap.add_argument("--keep", type=Path, default=None, help="build/reuse the corpus here and keep it")
    ap.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
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
        built = time.time() - t0
        print(f"machine: {os.cpu_count()} cores; corpus built in {built:.0f}s")
        rows = []
        for near in ("on", "none"):
            out = work / f"out-{near}"
            shutil.rmtree(out, ignore_errors=True)
            report, peak, wall = measured_run(raw, out, near)
            rows.append((near, report, peak, wall))
            shutil.rmtree(out, ignore_errors=True)
        r0 = rows[0][1]
        print(
            f"corpus: {r0['bytes_in'] / 1e6:.1f} MB in {r0['files_seen']} files, {r0['records_seen']} documents "
            f"(planted {len(planted['exact'])} exact + {len(planted['near'])} near pairs); kept {r0['docs_kept']}"
        )
        print(f"{'near-dedup':<11} {'seconds':>8} {'MB/s':>7} {'docs/s':>8} {'peak RSS':>9} {'wall s':>7}")
        for near, report, peak, wall in rows:
            s = report["seconds"]
            print(
                f"{f'on ({near_threshold()})' if near == 'on' else 'off':<11} {s:>8.1f} "
                f"{report['bytes_in'] / 1e6 / s:>7.2f} "
                f"{report['records_seen'] / s:>8.0f} {peak / 2**30:>7.2f}GB {wall:>7.1f}"
            )
        q = dedup_quality(r0, planted)
        print(
            f"dedup on planted pairs: exact recall {q['exact_recall']:.3f}, near recall {q['near_recall']:.3f}, "
            f"precision {q['precision']:.3f} ({q['false_merges']} false merges)"
        )
        print("dropped (near-dedup on):", r0["dropped"])
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()

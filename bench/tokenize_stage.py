"""Tokenize and mix speed: the tokenize stage code vs raw `tokenizer(batch)`, mix after a ratio change,
peak memory on a large source.

    .venv/bin/python bench/tokenize_stage.py               # throughput + mix seconds + 200 MB memory run
    .venv/bin/python bench/tokenize_stage.py --big-mb 0    # skip the large-source memory run
    .venv/bin/python bench/tokenize_stage.py --mb 4        # less text for the throughput section

throughput: the shipped replay text repeated to --mb MB, a sentencepiece tokenizer of vocab 4000 built
like tests/helpers.py (or models/start when present); raw = `tokenizer(batch)` over batches of 1024
texts; stage = cptpipe.data.encode.tokenize_source reading the same text from a jsonl folder and
writing the shard. Both with TOKENIZERS_PARALLELISM=true (as the stage sets it). Best of 2 passes.
mix: build_mix on data/tokens (the default-size shards of `make repro`) after a ratio change, in a
fresh process (imports included), i.e. what `dvc exp run -S mix.replay=0.1`
spends before training starts.
memory: tokenize_source on a --big-mb MB jsonl folder in a child process; its peak RSS vs a 1/10 size run.
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run as a script, this file's folder comes first on sys.path and would shadow the stdlib `tokenize`.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ["TOKENIZERS_PARALLELISM"] = "true"
ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT)]

from cptpipe.data.encode import tokenize_source  # noqa: E402


def tokenizer():
    if (ROOT / "models/start/tokenizer.json").exists():
        from cptpipe.model.start import load_tokenizer

        return load_tokenizer(ROOT / "models/start"), "models/start"
    from cptpipe.model.tokenizer import build_tokenizer
    from tests.helpers import replay_texts

    return build_tokenizer(replay_texts(), vocab_size=4000, seed=0), "scratch vocab 4000"


def texts_of(mb: float) -> list[str]:
    with open(ROOT / "data/replay/train.jsonl") as f:
        base = [json.loads(line)["text"] for line in f]
    out, size = [], 0
    while size < mb * 1e6:
        for t in base:
            out.append(t)
            size += len(t.encode())
            if size >= mb * 1e6:
                break
    return out


def write_folder(folder: Path, texts: list[str]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / "part.jsonl", "w") as f:
        for t in texts:
            f.write(json.dumps({"text": t}) + "\n")


def best(fn, n: int = 2) -> tuple[float, int]:
    runs = [fn() for _ in range(n)]
    return min(r[0] for r in runs), runs[0][1]


def throughput(mb: float) -> None:
    tok, which = tokenizer()
    texts = texts_of(mb)

    def raw():
        t0, n = time.perf_counter(), 0
        for i in range(0, len(texts), 1024):
            n += sum(map(len, tok(texts[i : i + 1024], add_special_tokens=False)["input_ids"]))
        return time.perf_counter() - t0, n

    with tempfile.TemporaryDirectory() as d:
        write_folder(Path(d) / "src", texts)

        def stage():
            out = Path(tempfile.mkdtemp(dir=d))
            t0 = time.perf_counter()
            meta = tokenize_source("replay", tok, str(Path(d) / "src"), out)
            return time.perf_counter() - t0, meta["tokens"] - meta["rows"]  # without the added EOS

        raw_s, n = best(raw)
        stage_s, n_stage = best(stage)
    assert n == n_stage, (n, n_stage)
    print(
        f"tokenizer: {which}; text: {sum(len(t.encode()) for t in texts) / 1e6:.1f} MB, {len(texts)} docs, "
        f"{n:,} tokens; cores: {os.cpu_count()}"
    )
    print(f"raw tokenizer(batch):   {n / raw_s:12,.0f} tokens/s ({raw_s:.2f} s)")
    print(
        f"tokenize stage code:    {n / stage_s:12,.0f} tokens/s ({stage_s:.2f} s)  "
        f"= {raw_s / stage_s:.2f}x raw (read + encode + write shard)"
    )


MIX_CHILD = """
import sys, time, warnings, tempfile; t0 = time.perf_counter()
sys.path[:0] = [{src!r}]
from pathlib import Path
from cptpipe.params import load_params
from cptpipe.mix.plan import build_mix
warnings.simplefilter("ignore")
p = load_params({params!r})
p.mix.replay = 0.1
with tempfile.TemporaryDirectory() as d:
    t1 = time.perf_counter()
    rep = build_mix(Path({tokens!r}), Path(d), mix=p.mix, recipe=p.train.recipe,
                    spec=p.recipes[p.train.recipe], seq_len=p.tokenize.seq_len,
                    seed=p.seed)
    t2 = time.perf_counter()
ph = rep["phases"][-1]
print(f"{{t2 - t1:.2f}} {{time.perf_counter() - t0:.2f}} {{ph['tokens']}} {{ph['blocks']}} "
      + " ".join(f"{{k}}={{v['share']:.4f}}/{{v['share_requested']:.4f}}" for k, v in sorted(ph['sources'].items())))
"""


def mix_seconds() -> None:
    tokens = ROOT / "data/tokens"
    if not all((tokens / s / "meta.json").exists() for s in ("domain", "qa", "replay", "instruct")):
        print("mix: data/tokens missing; run `make repro` (or `dvc repro mix`) first")
        return
    code = MIX_CHILD.format(src=str(ROOT / "src"), params=str(ROOT / "params.yaml"), tokens=str(tokens))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    sizes = {
        s: json.loads((tokens / s / "meta.json").read_text())["tokens"] for s in ("domain", "qa", "replay", "instruct")
    }
    print(
        f"mix after -S mix.replay=0.1 on data/tokens {sizes}: build_mix {out[0]} s, "
        f"whole process {out[1]} s; {out[2]} tokens in {out[3]} blocks; share used/requested: {' '.join(out[4:])}"
    )


MEM_CHILD = """
import os, sys, resource, time
os.environ["TOKENIZERS_PARALLELISM"] = "true"
sys.path[:0] = [{src!r}, {root!r}]
from pathlib import Path
from bench.tokenize_stage import tokenizer
from cptpipe.data.encode import tokenize_source
tok, _ = tokenizer()
before = int(open("/proc/self/statm").read().split()[1]) * os.sysconf("SC_PAGE_SIZE") // 1024
t0 = time.perf_counter()
meta = tokenize_source("replay", tok, str(Path({root_dir!r}) / "src"), Path({out!r}))
dt = time.perf_counter() - t0
print(before // 1024, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024, meta["tokens"], f"{{dt:.1f}}")
"""


def memory(mb: float) -> None:
    with tempfile.TemporaryDirectory() as d:
        results = []
        for size in (mb / 10, mb):
            root = Path(d) / f"r{size:g}"
            write_folder(root / "src", texts_of(size))
            (root / "out").mkdir()
            code = MEM_CHILD.format(src=str(ROOT / "src"), root=str(ROOT), root_dir=str(root), out=str(root / "out"))
            out = subprocess.run(
                [sys.executable, "-c", code], capture_output=True, text=True, check=True
            ).stdout.split()
            results.append((size, *out))
            (root / "src/part.jsonl").unlink()
        for size, before, peak, n, dt in results:
            print(
                f"memory: {size:g} MB source -> {int(n):,} tokens in {dt} s; RSS before tokenizing "
                f"{before} MB (torch/transformers/tokenizer loaded), peak RSS {peak} MB"
            )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mb", type=float, default=8.0, help="MB of text for the throughput section")
    ap.add_argument("--big-mb", type=float, default=200.0, help="MB of the memory run (0 skips it)")
    args = ap.parse_args()
    throughput(args.mb)
    mix_seconds()
    if args.big_mb > 0:
        memory(args.big_mb)


if __name__ == "__main__":
    main()

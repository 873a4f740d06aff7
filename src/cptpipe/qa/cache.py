"""On-disk cache of model replies keyed by (document hash, prompt hash, model).

Why outside DVC outs (default `.cache/qa/`, gitignored; `CPTPIPE_QA_CACHE` moves it): DVC deletes
a stage's outs before rerunning it, so a cache inside `data/qa` would be gone exactly when a
rerun needs it; a `persist: true` out survives, but DVC would then hash and copy every reply
file into its cache on each run, and experiments queued in temp dirs get a fresh copy anyway. A
plain side directory keeps a crash or a params change from paying twice, and pointing
`CPTPIPE_QA_CACHE` at a shared absolute path lets experiments share it. Entries are one small
JSON file each, written atomically as each reply arrives, and hold no credentials.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

DEFAULT_DIR = ".cache/qa"


def default_dir() -> Path:
    return Path(os.environ.get("CPTPIPE_QA_CACHE", DEFAULT_DIR))


def doc_hash(title: str, text: str) -> str:
    return hashlib.sha256(f"{title}\0{text}".encode()).hexdigest()


class ReplyCache:
    def __init__(self, root: str | Path):
        self.root = Path(root)

    def _path(self, d_hash: str, p_hash: str, model: str) -> Path:
        key = hashlib.sha256(f"{d_hash}\0{p_hash}\0{model}".encode()).hexdigest()
        return self.root / key[:2] / f"{key}.json"

    def get(self, d_hash: str, p_hash: str, model: str) -> str | None:
        path = self._path(d_hash, p_hash, model)
        try:
            return json.loads(path.read_text(encoding="utf-8"))["reply"]
        except (FileNotFoundError, json.JSONDecodeError, KeyError):
            return None  # a missing or torn entry is simply asked again

    def put(self, d_hash: str, p_hash: str, model: str, reply: str) -> None:
        path = self._path(d_hash, p_hash, model)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}-{id(reply)}")
        tmp.write_text(
            json.dumps({"model": model, "prompt_hash": p_hash, "doc_hash": d_hash, "reply": reply}), encoding="utf-8"
        )
        os.replace(tmp, path)

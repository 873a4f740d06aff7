"""The openai generator against a real local HTTP server speaking chat-completions."""

import json
import os
import re
import secrets
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pyarrow as pa
import pytest

from cptpipe.errors import UserError
from cptpipe.params import QAEndpointParams, QAParams
from cptpipe.qa.generate import build_qa
from tests.qa.conftest import ROOT, corpus_docs

KEY_ENV = "CPTPIPE_QA_TEST_KEY"


class FakeLLM(ThreadingHTTPServer):
    """Answers like an LLM: fenced JSON with chatter around it, grounded in the prompt's document."""

    def __init__(self):
        super().__init__(("127.0.0.1", 0), Handler)
        self.lock = threading.Lock()
        self.answered = 0  # 200 replies
        self.too_many = 0  # 429s to send before the next success
        self.fail_after = None  # after this many 200s, answer 500 forever: the run "crashes"
        self.auth: set[str] = set()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/v1"


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):  # keep pytest output clean
        pass

    def _send(self, code: int, body: dict | None = None):
        data = json.dumps(body or {"error": {"message": "try later"}}).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Retry-After", "0")  # tests do not sleep
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self):
        srv: FakeLLM = self.server
        req = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        assert self.path == "/v1/chat/completions" and req["model"] == "fake-1"
        with srv.lock:
            srv.auth.add(self.headers.get("Authorization", ""))
            if srv.too_many:
                srv.too_many -= 1
                return self._send(429)
            if srv.fail_after is not None and srv.answered >= srv.fail_after:
                return self._send(500)
            srv.answered += 1
        prompt = req["messages"][0]["content"]
        title = re.search(r"Title: (.*)", prompt).group(1)
        words = prompt.split("Document:\n", 1)[1].replace("#", " ").split()
        if "Malformed" in title:
            content = 'Sure! ```json\n{"pairs": [{"question": "Who?", "answer": ```'
        else:
            n = int(re.search(r"write (\d+)", prompt).group(1))
            pairs = [
                {
                    "question": f"Which words appear in the article about {title}, part {i}?",
                    "answer": " ".join(words[3 * i + 3 : 3 * i + 5]),
                    "paraphrases": [f"Part {i} of the {title} article mentions which words?"],
                }
                for i in range(n)
            ]
            content = f"Here are the pairs:\n```json\n{json.dumps({'pairs': pairs})}\n```\nHope this helps!"
        self._send(200, {"choices": [{"message": {"role": "assistant", "content": content}}]})


@pytest.fixture
def server():
    srv = FakeLLM()
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield srv
    srv.shutdown()
    srv.server_close()


def _params(srv, **ep) -> QAParams:
    return QAParams(
        generator="openai",
        per_doc=4,
        paraphrases=1,
        max_new_tokens=256,
        endpoint=QAEndpointParams(
            base_url=srv.base_url,
            model="fake-1",
            api_key_env=KEY_ENV,
            concurrency=2,
            timeout_s=5,
            max_retries=ep.get("max_retries", 3),
        ),
    )


def _files_with(root: Path, needle: bytes, since: float, skip=(".venv", ".git", ".dvc")) -> list[Path]:
    hits = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if d not in skip]
        for name in filenames:
            p = Path(dirpath) / name
            try:
                if p.stat().st_mtime >= since and needle in p.read_bytes():
                    hits.append(p)
            except OSError:
                pass
    return hits


def test_openai_generator_retries_caches_and_never_writes_the_key(server, tmp_path, monkeypatch):
    start = time.time() - 1
    key = "sk-test-" + secrets.token_hex(16)
    monkeypatch.setenv(KEY_ENV, key)
    docs = corpus_docs(5)
    docs[1] = {**docs[1], "title": "Malformed Reply"}
    table = pa.Table.from_pylist(docs)
    params, cache = _params(server, max_retries=1), tmp_path / "cache"
    n_requests = len(docs) * 3  # factual, reasoning, summarization per document

    # 1) The endpoint dies after 6 replies: the run fails, but what was paid for is cached.
    server.fail_after = 6
    with pytest.raises(UserError, match="still failing"):
        build_qa(table, params, seed=0, cache_dir=cache)
    cached = len(list(cache.rglob("*.json")))
    assert cached == server.answered == 6

    # 2) Rerun on a healthy endpoint that first answers 429: only the missing requests are sent.
    server.fail_after, server.answered, server.too_many = None, 0, 1
    rows, report = build_qa(table, _params(server), seed=0, cache_dir=cache)
    gen = report["generation"]
    assert server.answered == n_requests - cached and gen["cache_hits"] == cached
    assert gen["retries"] >= 1 and gen["requests"] == n_requests
    # The malformed reply is counted, not fatal; the others give grounded, traceable rows.
    assert report["dropped"].get("parse_error", 0) == 3  # all three types of the malformed document
    assert rows and {r["generator"] for r in rows} == {"openai"}
    assert all(len(r["prompt_hash"]) == 12 and r["doc_id"] and r["split"] in ("train", "heldout") for r in rows)
    assert not any(r["paraphrase_of"] for r in rows if r["split"] == "heldout")
    assert any(r["paraphrase_of"] for r in rows if r["split"] == "train")

    # 3) A third run is free.
    server.answered = 0
    rows3, report3 = build_qa(table, _params(server), seed=0, cache_dir=cache)
    assert server.answered == 0 and report3["generation"]["cache_hits"] == n_requests and rows3 == rows

    # The key went to the server, and nowhere else.
    assert server.auth == {f"Bearer {key}"}
    (tmp_path / "report.json").write_text(json.dumps(report))
    assert key not in json.dumps(rows) + json.dumps(report)
    assert _files_with(tmp_path, key.encode(), start) == []
    assert _files_with(ROOT, key.encode(), start) == []


def test_missing_key_is_a_clear_error(server, tmp_path, monkeypatch):
    monkeypatch.delenv(KEY_ENV, raising=False)
    with pytest.raises(UserError, match=f"qa.endpoint.api_key_env: environment variable {KEY_ENV} is not set"):
        build_qa(pa.Table.from_pylist(corpus_docs(1)), _params(server), seed=0, cache_dir=tmp_path)
    assert server.answered == 0

"""qa.generator: openai — any OpenAI-compatible chat-completions endpoint, over stdlib HTTP.

Bounded concurrency (a thread pool of `qa.endpoint.concurrency`), retries with exponential
backoff on 429 / 5xx / timeouts (Retry-After honoured), and every reply cached on disk as soon as
it arrives, so a crash mid-run loses nothing already paid for. The API key is read from the
environment variable named by `qa.endpoint.api_key_env` and lives only in request headers: it is
never put into an error message, a report, a row or the cache.
"""

from __future__ import annotations

import json
import os
import random
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait

from cptpipe.errors import UserError
from cptpipe.params import QAEndpointParams

RETRY_STATUS = {408, 409, 425, 429, 500, 502, 503, 504}
MAX_BACKOFF_S = 60.0


class RetryableError(Exception):
    pass


class ChatClient:
    def __init__(self, ep: QAEndpointParams, max_tokens: int, backoff_s: float = 1.0):
        self.url = ep.base_url.rstrip("/") + "/chat/completions"
        self.model = ep.model
        self.timeout = ep.timeout_s
        self.max_retries = ep.max_retries
        self.max_tokens = max_tokens
        self.backoff_s = backoff_s
        self.retries = 0  # for the report
        self._headers = {"Content-Type": "application/json"}
        if ep.api_key_env:
            key = os.environ.get(ep.api_key_env)
            if not key:
                raise UserError(
                    f"qa.endpoint.api_key_env: environment variable {ep.api_key_env} is not set; "
                    "export the key there (it is never stored in params or files), or set "
                    "qa.endpoint.api_key_env: null for an endpoint without auth"
                )
            self._headers["Authorization"] = f"Bearer {key}"

    def settings(self) -> str:
        """What besides the prompt decides the reply: part of the cache key's prompt hash."""
        return f"temperature=0;max_tokens={self.max_tokens}"

    def _once(self, prompt: str) -> str:
        body = json.dumps(
            {
                "model": self.model,
                "temperature": 0,
                "max_tokens": self.max_tokens,
                "messages": [{"role": "user", "content": prompt}],
            }
        ).encode()
        req = urllib.request.Request(self.url, data=body, headers=self._headers, method="POST")
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                raw = resp.read()
        except urllib.error.HTTPError as e:
            detail = e.read()[:200].decode("utf-8", "replace")
            if e.code in RETRY_STATUS:
                raise RetryableError(f"HTTP {e.code}", e.headers.get("Retry-After")) from None
            raise UserError(
                f"qa.endpoint: {self.url} answered HTTP {e.code}: {detail!r}; check "
                "qa.endpoint.base_url, qa.endpoint.model and the key in qa.endpoint.api_key_env"
            ) from None
        except (urllib.error.URLError, TimeoutError, ConnectionError) as e:
            raise RetryableError(f"{type(e).__name__}: {getattr(e, 'reason', e)}", None) from None
        try:
            return json.loads(raw)["choices"][0]["message"]["content"] or ""
        except (json.JSONDecodeError, KeyError, IndexError, TypeError):
            # A gateway's HTML error page or a truncated body: worth another try.
            raise RetryableError("reply is not a chat-completions JSON body", None) from None

    def complete(self, prompt: str) -> str:
        for attempt in range(self.max_retries + 1):
            try:
                return self._once(prompt)
            except RetryableError as e:
                if attempt == self.max_retries:
                    raise UserError(
                        f"qa.endpoint: {self.url} still failing after {self.max_retries} retries "
                        f"({e.args[0]}); raise qa.endpoint.max_retries or lower "
                        "qa.endpoint.concurrency"
                    ) from None
                self.retries += 1
                after = e.args[1]
                try:
                    delay = float(after) if after is not None else None
                except ValueError:
                    delay = None
                if delay is None:
                    delay = self.backoff_s * 2**attempt * (0.5 + random.random())  # jitter spreads clients
                time.sleep(min(MAX_BACKOFF_S, max(0.0, delay)))
        raise AssertionError("unreachable")


def run_requests(
    client: ChatClient, jobs: list, on_reply: Callable[[object, str], None], concurrency: int, progress=None
) -> None:
    """Ask every job's prompt with at most `concurrency` in flight; on_reply runs as each arrives.

    The first failure stops the run (pending jobs are cancelled) after the replies already
    received were handed to on_reply (which caches them).
    """
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        futures = {pool.submit(client.complete, job.prompt): job for job in jobs}
        pending = set(futures)
        while pending:
            done, pending = wait(pending, return_when=FIRST_EXCEPTION)
            failed = None
            for f in done:
                if f.exception() is not None:
                    failed = failed or f.exception()
                    continue
                on_reply(futures[f], f.result())
                if progress is not None:
                    progress.update(1)
            if failed is not None:
                for f in pending:
                    f.cancel()
                # Requests already in flight are paid for: keep their replies before failing.
                for f in wait([f for f in pending if not f.cancelled()]).done:
                    if f.exception() is None:
                        on_reply(futures[f], f.result())
                raise failed

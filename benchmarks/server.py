"""Rows 8: the OpenAI-compatible endpoint (``chatgpt-providers api``), measured over real sockets.

Three processes, as in a deployment: the stand-in site, the endpoint (waitress), and the HTTP
clients here, which are raw sockets so that the figures are the endpoint's, not a client
library's. Called from :func:`benchmarks.run.main` with its ``row`` and ``RemoteSite``.
"""

from __future__ import annotations

import json
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple
from urllib.parse import urlsplit

from chatgpt_providers import Chatgpt4Online, ChatGptt

HERE = Path(__file__).resolve().parent
MODELS = (("chatgpt4online", Chatgpt4Online), ("chatgptt", ChatGptt))


class RemoteAPI:
    """``chatgpt-providers api`` in a process of its own, its presets pointed at ``site_url``."""

    def __init__(self, site_url: str, threads: int = 16) -> None:
        path = os.pathsep.join([str(HERE.parent), os.environ.get("PYTHONPATH", "")])
        env = dict(os.environ, PYTHONPATH=path)
        env.pop("CHATGPT_PROVIDERS_API_KEY", None)
        self.process = subprocess.Popen(
            [sys.executable, "-m", "chatgpt_providers", "api", "--port", "0", "--base-url", site_url,
             "--threads", str(threads), "--log-level", "warning"],
            stdout=subprocess.PIPE, text=True, env=env)
        first = self.process.stdout.readline() if self.process.stdout else ""
        if " at http" not in first:
            self.process.kill()
            raise RuntimeError(f"chatgpt-providers api did not start: {first!r}")
        self.url = first.split(" at ", 1)[1].split()[0].rsplit("/v1", 1)[0]

    def __enter__(self) -> RemoteAPI:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.process.terminate()
        self.process.wait(10)


def ask(url: str, model: str, question: str, stream: bool) -> Tuple[float, bytes]:
    """One request on a new connection: ``(perf_counter when the first body byte arrived,
    the whole response)``."""
    parts = urlsplit(url)
    data = json.dumps({"model": model, "stream": stream,
                       "messages": [{"role": "user", "content": question}]}).encode()
    head = (f"POST /v1/chat/completions HTTP/1.1\r\nHost: {parts.netloc}\r\nContent-Type: "
            f"application/json\r\nContent-Length: {len(data)}\r\nConnection: close\r\n\r\n").encode()
    first: Optional[float] = None
    received = bytearray()
    with socket.create_connection((parts.hostname, parts.port), timeout=30) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.sendall(head + data)
        while True:
            piece = sock.recv(65536)
            if not piece:
                break
            received += piece
            if first is None:
                end = received.find(b"\r\n\r\n")
                if 0 <= end < len(received) - 4:
                    first = time.perf_counter()
    body = bytes(received)
    expected = b"[DONE]" if stream else b'"finish_reason":"stop"'
    if not body.startswith(b"HTTP/1.1 200") or expected not in body or first is None:
        raise RuntimeError(f"unexpected answer from the endpoint: {body[:300]!r}")
    return first, body


def first_byte(row: Callable[..., None], remote_site: Any, runs: int) -> None:
    """From the site's flush of its first event to the first byte of the streamed answer at
    the HTTP client. Baseline: the same request without ``stream`` (a buffered answer)."""
    question = "one two three four five six"
    with remote_site(delay=0.02) as site, RemoteAPI(site.url) as api:
        for model, provider in MODELS:
            ask(api.url, model, "warm up", stream=False)  # the client and the nonce are made
            ours, buffered = [], []
            for _ in range(runs):
                arrived, _ = ask(api.url, model, question, stream=True)
                ours.append(arrived - site.chat_records(provider)[-1]["first_event_at"])
                arrived, _ = ask(api.url, model, question, stream=False)
                buffered.append(arrived - site.chat_records(provider)[-1]["first_event_at"])
            ours_ms, buffered_ms = statistics.median(ours) * 1000, statistics.median(buffered) * 1000
            row(f"8. first streamed byte at the HTTP client after the site's flush, API, {model}",
                ours_ms, buffered_ms, "ms", "ours <= 5 ms (median)", ours_ms <= 5.0)


def concurrent(row: Callable[..., None], remote_site: Any, total: int) -> None:
    """8 clients streaming at once through one endpoint, against the ideal: the stand-in's
    total time for those requests / 8."""
    with remote_site(latency=0.02, delay=0.01) as site, RemoteAPI(site.url) as api:
        for model, _ in MODELS:
            ask(api.url, model, "warm up", stream=False)
        before = len(site.log()["requests"])
        barrier = threading.Barrier(8)
        failures: List[BaseException] = []

        def work(index: int) -> None:
            try:
                barrier.wait()
                for turn in range(total // 8):
                    model = MODELS[(index + turn) % 2][0]
                    _, body = ask(api.url, model, f"q {index} {turn}", stream=True)
                    text = "".join(json.loads(line[6:])["choices"][0]["delta"].get("content", "")
                                   for line in body.split(b"\n") if line.startswith(b"data: {"))
                    if text != f"Echo: q {index} {turn}":
                        raise AssertionError(f"wrong answer {text!r}")
            except BaseException as exc:  # reported below, not lost in a thread
                failures.append(exc)

        threads = [threading.Thread(target=work, args=(index,)) for index in range(8)]
        start = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        wall = time.perf_counter() - start
        if failures:
            raise failures[0]
        records: List[Dict[str, Any]] = site.log()["requests"][before:]
        if len(records) != total - total % 8:
            raise AssertionError(f"{len(records)} requests reached the site, not {total}")
        ideal = sum(r["finished_at"] - r["started_at"] for r in records) / 8
        row(f"8. 8 concurrent streaming clients, {len(records)} requests, through the API",
            wall * 1000, ideal * 1000, "ms", "ratio <= 1.3 vs ideal", wall <= 1.3 * ideal,
            note="each request: 20 ms site latency, then 4 words 10 ms apart")


def api_rows(row: Callable[..., None], remote_site: Any, *, quick: bool) -> None:
    """The endpoint's rows (see the module docstring)."""
    try:
        import waitress  # noqa: F401
    except ImportError:
        row("8. OpenAI-compatible endpoint", 0.0, 0.0, "ms", "needs waitress", False,
            note="pip install 'chatgpt-providers[server]'")
        return
    first_byte(row, remote_site, runs=1 if quick else 15)
    concurrent(row, remote_site, total=16 if quick else 160)

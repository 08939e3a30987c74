"""Entry throughput through gunicorn: CLIENTS logged-in clients posting the entry form at once.

gunicorn runs with the project's gunicorn.conf.py (workers and threads through GUNICORN_WORKERS and
GUNICORN_THREADS), bound to a free port on 127.0.0.1. Each client logs in through the login page with its
CSRF token, like tests/test_load.py, then posts entries over one keep-alive connection. Two ways of posting:

- "post": the POST alone. The client keeps the session cookie it logged in with, so the flash message of each
  accepted entry does not pile up in the cookie (a browser would read it on the next page).
- "browser": the POST and then the page it redirects to (the entry form again), as a browser does.

The floor is bench.floor_app in the same gunicorn setup: the same clients posting the same entries, as ids.
"""

from __future__ import annotations

import http.client
import os
import re
import subprocess
import sys
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from pathlib import Path

from bench.dataset import BENCH_SECRET
from bench.db import Target

ROOT = Path(__file__).resolve().parents[1]
HOST = "127.0.0.1"
TIMEOUT = 120
# The response header on which bench/lock_app.py reports the seconds a request waited for the write lock.
LOCK_WAIT_HEADER = "X-Bench-Lock-Wait"
_TOKEN = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


@contextmanager
def gunicorn(
    wsgi: str,
    target: Target,
    workers: int,
    threads: int,
    log_path: Path,
    extra_env: dict[str, str] | None = None,
) -> Iterator[int]:
    """A gunicorn serving `wsgi` on a free port of 127.0.0.1; yields the port, stops the server after.

    `extra_env` adds to the environment (DISPATCH_* settings for the application)."""
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": target.url,
        "BENCH_DB": target.url,
        "DISPATCH_SECRET_KEY": BENCH_SECRET,
        "DISPATCH_ENV_NAME": "bench",
        "GUNICORN_BIND": f"{HOST}:{port}",
        "GUNICORN_WORKERS": str(workers),
        "GUNICORN_THREADS": str(threads),
        **(extra_env or {}),
    }
    with log_path.open("a") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", wsgi],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            deadline = time.monotonic() + 60
            while True:
                conn = http.client.HTTPConnection(HOST, port, timeout=2)
                try:
                    conn.request("GET", "/healthz")
                    if conn.getresponse().status == 200:
                        break
                except OSError:
                    pass
                finally:
                    conn.close()
                if time.monotonic() > deadline or process.poll() is not None:
                    raise RuntimeError(f"gunicorn did not start; see {log_path}")
                time.sleep(0.2)
            try:
                yield port
            except Exception as exc:
                # The log goes with the run's scratch directory: keep what the server said in the error.
                log.flush()
                tail = log_path.read_text(encoding="utf-8", errors="replace")[-3000:]
                raise RuntimeError(f"{exc}\n--- the last of {log_path}:\n{tail}") from exc
        finally:
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@dataclass
class Client:
    """One user's browser: a keep-alive connection and the session cookie."""

    port: int
    cookie: str = ""
    conn: http.client.HTTPConnection | None = None
    # The headers of the last response.
    headers: http.client.HTTPMessage | None = None

    def request(
        self, method: str, path: str, form: dict[str, str] | None = None, keep_cookie: bool = False
    ) -> tuple[int, str, str]:
        """(status, location, body). A connection the server closed is opened again, once."""
        body = urllib.parse.urlencode(form) if form is not None else None
        headers = {"Cookie": self.cookie} if self.cookie else {}
        if body is not None:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        for attempt in (1, 2):
            if self.conn is None:
                self.conn = http.client.HTTPConnection(HOST, self.port, timeout=TIMEOUT)
            try:
                self.conn.request(method, path, body=body, headers=headers)
                response = self.conn.getresponse()
                text = response.read().decode("utf-8", "replace")
                self.headers = response.headers
                break
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                self.conn.close()
                self.conn = None
                if attempt == 2:
                    raise
        if not keep_cookie:
            for header in response.headers.get_all("Set-Cookie") or []:
                jar = SimpleCookie(header)
                if "session" in jar:
                    self.cookie = f"session={jar['session'].value}"
        if response.getheader("Connection", "").lower() == "close":
            self.conn.close()
            self.conn = None
        return response.status, response.getheader("Location", ""), text

    def token(self, path: str) -> str:
        status, _, text = self.request("GET", path)
        match = _TOKEN.search(text)
        if status != 200 or match is None:
            raise RuntimeError(f"no CSRF token on {path} ({status})")
        return match.group(1)

    def log_in(self, username: str, password: str) -> None:
        token = self.token("/login")
        status, _, _ = self.request(
            "POST", "/login", {"csrf_token": token, "username": username, "password": password}
        )
        if status != 302:
            raise RuntimeError(f"login of {username} refused ({status})")

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None


@dataclass
class LoadResult:
    accepted: int
    seconds: float
    latencies: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)

    @property
    def per_second(self) -> float:
        return self.accepted / self.seconds if self.seconds else 0.0

    @property
    def p95(self) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))] if ordered else 0.0


# One client's work: post entry number i, returning (status, seconds taken).
Post = Callable[[int], tuple[int, float]]


def run_clients(posts: list[Post], count: int) -> LoadResult:
    """Every client posts `count` entries at once; the clock runs from the start signal to the last."""
    barrier = threading.Barrier(len(posts) + 1)
    results: list[list[tuple[int, float]]] = [[] for _ in posts]
    failures: list[BaseException] = []

    def work(n: int) -> None:
        try:
            barrier.wait(timeout=TIMEOUT)
            for i in range(count):
                results[n].append(posts[n](i))
        except BaseException as exc:  # noqa: BLE001 - reported by the main thread
            failures.append(exc)

    threads = [threading.Thread(target=work, args=(n,), daemon=True) for n in range(len(posts))]
    for t in threads:
        t.start()
    barrier.wait(timeout=TIMEOUT)
    started = time.perf_counter()
    for t in threads:
        t.join(timeout=30 * 60)
    seconds = time.perf_counter() - started
    if failures:
        raise RuntimeError(f"a load client failed: {failures[0]!r}") from failures[0]
    statuses: dict[int, int] = {}
    latencies = []
    for status, latency in (r for rs in results for r in rs):
        statuses[status] = statuses.get(status, 0) + 1
        latencies.append(latency)
    return LoadResult(statuses.get(302, 0), seconds, latencies, statuses)

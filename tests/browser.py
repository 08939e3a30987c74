"""A real HTTP server and Debian's chromium for the tests that drive pages as a person would."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit

from flask import Flask
from playwright.sync_api import Browser, Page, Route, sync_playwright
from werkzeug.serving import make_server

CHROMIUM = "/usr/bin/chromium"
# Without these Chromium phones home at start (updates, sync, safe browsing); the machine is offline.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
LOCAL_HOSTS = {"127.0.0.1", "localhost"}


@contextmanager
def live_server(app: Flask) -> Iterator[str]:
    """Serve the app on 127.0.0.1 and a free port (port 0: the kernel picks) in a thread."""
    server = make_server("127.0.0.1", 0, _whole_bodies(app), threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)


def _whole_bodies(app: Flask) -> Callable[[dict[str, Any], Any], Iterable[bytes]]:
    """Each response read whole, and its body closed, before the server writes it. When the browser drops a
    connection mid-response (a page navigated away while its stylesheet was on its way), werkzeug's
    development server skips closing the body, so a static file stays open until collected, and the
    ResourceWarning fails whichever test is running then. gunicorn closes the body in every case."""

    def serve(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        body = app(environ, start_response)
        try:
            return [b"".join(body)]
        finally:
            close = getattr(body, "close", None)
            if close is not None:
                close()

    return serve


@contextmanager
def chromium() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


class OutsideRequests:
    """Blocks, and remembers, every request a page makes beyond this machine."""

    def __init__(self) -> None:
        self.urls: list[str] = []

    def attach(self, page: Page) -> None:
        page.route("**/*", self._route)

    def _route(self, route: Route) -> None:
        url = route.request.url
        host = urlsplit(url).hostname or ""
        if url.startswith(("data:", "blob:")) or host in LOCAL_HOSTS:
            route.continue_()
        else:
            self.urls.append(url)
            route.abort()


def log_in(page: Page, username: str, password: str) -> None:
    """Through the real login page, as a person would (the page must be showing it)."""
    page.get_by_label("ユーザー名").fill(username)
    page.get_by_label("パスワード").fill(password)
    page.get_by_role("button", name="ログイン").click()

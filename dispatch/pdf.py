"""PDFs of pages (the status report, the dashboard), drawn by WeasyPrint from the pages' own templates.

Nothing is fetched while a PDF is drawn. WeasyPrint gets no base URL, so a relative reference leads nowhere,
and a fetcher that reads the app's own static files (the stylesheet) from disk and refuses every other URL:
no request leaves the server whatever a page holds, and a PDF drawn on LGWAN looks like one drawn anywhere.
Japanese text is set in the fonts fontconfig finds (Debian's fonts-noto-cjk, installed by scripts/setup).
"""

from __future__ import annotations

import logging
import mimetypes
from pathlib import Path
from urllib.parse import quote, unquote, urlsplit

from weasyprint import HTML
from weasyprint.urls import FatalURLFetchingError, URLFetcher, URLFetcherResponse
from werkzeug.security import safe_join

PDF_MIMETYPE = "application/pdf"

# app.css is written for browsers: WeasyPrint warns of every property it does not know (user-select, the
# phones' media queries ...) on every PDF. Refused fetches stop the drawing instead of being logged.
logging.getLogger("weasyprint").setLevel(logging.ERROR)


class RefusedFetch(ValueError):
    """A PDF asked for something other than one of the app's static files: a bug in a template."""


class StaticFilesOnly(URLFetcher):
    """Serves URLs under ``prefix`` (the absolute URL of the static folder, ending in /) from ``folder`` on
    disk, and refuses every other URL, data: and file: included."""

    def __init__(self, prefix: str, folder: str) -> None:
        # A refused URL stops the drawing (fail_on_errors) rather than leaving a PDF without its stylesheet.
        super().__init__(fail_on_errors=True, allowed_protocols=("http", "https"))
        self.prefix = prefix
        self.folder = folder

    def fetch(self, url: str, headers: object = None) -> URLFetcherResponse:
        parts = urlsplit(url)
        if parts.query or parts.fragment or not url.startswith(self.prefix):
            raise RefusedFetch(f"only the app's static files may be read while drawing a PDF, not {url!r}")
        path = safe_join(self.folder, unquote(url[len(self.prefix) :]))
        if path is None or not Path(path).is_file():
            raise RefusedFetch(f"no such static file: {url!r}")
        mimetype = mimetypes.guess_type(path)[0] or "application/octet-stream"
        return URLFetcherResponse(url, Path(path).read_bytes(), {"Content-Type": mimetype})


def draw(html: str, fetcher: StaticFilesOnly) -> bytes:
    """The PDF of a page's HTML. Raises RefusedFetch when the HTML asks for anything but a static file."""
    try:
        return HTML(string=html, base_url=None, url_fetcher=fetcher).write_pdf()
    except FatalURLFetchingError as exc:
        # WeasyPrint's own error is a BaseException, which nothing above would catch.
        raise RefusedFetch(str(exc)) from exc.__cause__


def inline(filename: str, fallback: str) -> str:
    """Content-Disposition for a PDF shown in the browser, named in Japanese (RFC 5987) with an ASCII name
    for old clients; saving it keeps the name."""
    return f"inline; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"

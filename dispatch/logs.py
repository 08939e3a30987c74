"""Logging: one line per request and per job, key=value, so journald and log shippers can read it.

The request line is the only access log: gunicorn's own is off (gunicorn.conf.py), so each request is logged
once, with what gunicorn's line had (client address, bytes sent) and what only the app knows (the user).
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Iterable, Iterator
from typing import Any

from flask import Flask, Response, g, request, request_started

REQUEST_LOG = logging.getLogger("dispatch.request")

# Printable ASCII other than space, '"', '=' and backslash: such a value needs no quotes.
_BARE = re.compile(r"[!#-<>-\[\]-~]+")
_ESCAPES = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t"}
_NEEDS_ESCAPE = re.compile(r'["\\\x00-\x1f\x7f]')


def logfmt_value(value: object) -> str:
    """A value as logfmt writes it: bare when it can be, else in double quotes with '"' and '\\' escaped.

    Control characters are escaped too (a path may hold a decoded newline), so one record stays one line.
    Other characters, Japanese included, are kept as they are: journald stores UTF-8.
    """
    text = str(value)
    if _BARE.fullmatch(text):
        return text
    escaped = _NEEDS_ESCAPE.sub(lambda m: _ESCAPES.get(m[0], f"\\u{ord(m[0]):04x}"), text)
    return f'"{escaped}"'


def logfmt(fields: dict[str, object]) -> str:
    return " ".join(f"{key}={logfmt_value(value)}" for key, value in fields.items())


def configure(app: Flask) -> None:
    """One line for every request. The handler is the process's (gunicorn, flask run, the scheduler)."""
    if not logging.getLogger("dispatch").handlers and not app.testing:
        handler = logging.StreamHandler()
        handler.setFormatter(
            logging.Formatter(
                "time=%(asctime)s level=%(levelname)s logger=%(name)s %(message)s", "%Y-%m-%dT%H:%M:%S%z"
            )
        )
        logging.getLogger("dispatch").addHandler(handler)
        logging.getLogger("dispatch").setLevel(app.config.get("LOG_LEVEL", "INFO"))

    # A signal rather than before_request: it fires before every before_request function, so the requests
    # the access table turns away (redirect to the login page, 403, 404) are timed and logged as well.
    request_started.connect(_start_timer, app)
    app.after_request(_log_request)


def _start_timer(sender: Flask, **extra: Any) -> None:
    g.request_started = time.perf_counter()


def _log_request(response: Response) -> Response:
    started = g.get("request_started")
    if started is None:
        return response
    target = request.path
    if request.query_string:
        target += "?" + request.query_string.decode("utf-8", "replace")
    fields: dict[str, object] = {
        "remote": request.remote_addr or "-",
        "method": request.method,
        "path": target,
        "status": response.status_code,
    }
    user = _username()
    if response.is_streamed and not response.direct_passthrough:
        # A streamed body (the CSV and Excel exports) goes out after this returns: log once it has been sent,
        # with the bytes that went out and the time it took, as gunicorn's line did.
        body = _CountedBody(response.response)
        response.response = body
        response.call_on_close(lambda: _write(fields, body.sent, started, user))
    else:
        # Sent whole, or a file the server sends itself (static files): the length is known now, and the
        # server would not call back once it is sent.
        sent = 0 if request.method == "HEAD" or response.status_code == 304 else response.content_length or 0
        _write(fields, sent, started, user)
    return response


def _username() -> str:
    # The user this request already loaded, if any. Loading it here would query the database for static
    # files and the public pages, and turn /healthz into a 500 when the database is the thing that is down.
    # Flask-Login keeps the loaded user in g._login_user (and has no public way to ask without loading).
    user = g.get("_login_user")
    return str(user.username) if user is not None and user.is_authenticated else "-"


def _write(fields: dict[str, object], sent: int, started: float, user: str) -> None:
    duration_ms = f"{(time.perf_counter() - started) * 1000:.1f}"
    REQUEST_LOG.info("%s", logfmt({**fields, "bytes": sent, "duration_ms": duration_ms, "user": user}))


class _CountedBody:
    """A response body that counts the bytes it yields; closing it closes the body it wraps."""

    def __init__(self, body: Iterable[str | bytes]) -> None:
        self._body = body
        self.sent = 0

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self._body:
            data = chunk.encode() if isinstance(chunk, str) else chunk
            self.sent += len(data)
            yield data

    def close(self) -> None:
        close = getattr(self._body, "close", None)
        if close is not None:
            close()

"""Logging: one line per request and per job, key=value, so journald and log shippers can read it."""

from __future__ import annotations

import logging
import time

from flask import Flask, Response, g, request
from flask_login import current_user

REQUEST_LOG = logging.getLogger("dispatch.request")


def configure(app: Flask) -> None:
    """Timing for every request. The handler is the process's (gunicorn, flask run, the scheduler)."""
    if not logging.getLogger("dispatch").handlers and not app.testing:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s level=%(levelname)s logger=%(name)s %(message)s"))
        logging.getLogger("dispatch").addHandler(handler)
        logging.getLogger("dispatch").setLevel(app.config.get("LOG_LEVEL", "INFO"))

    @app.before_request
    def _start_timer() -> None:
        g.request_started = time.perf_counter()

    @app.after_request
    def _log_request(response: Response) -> Response:
        started = g.get("request_started")
        if started is not None and request.endpoint != "static":
            user = current_user.username if current_user and current_user.is_authenticated else "-"
            REQUEST_LOG.info(
                "method=%s path=%s status=%s duration_ms=%.1f user=%s",
                request.method,
                request.path,
                response.status_code,
                (time.perf_counter() - started) * 1000,
                user,
            )
        return response

"""The tracker as gunicorn serves it (wsgi:app), telling each response how long its request waited for the
write lock: the seconds spent in the write-lock entry points, on the `X-Bench-Lock-Wait` header.

For figure h (a writer while others post wrong passwords to /login). The entry points are the functions of
the application that take the lock (WAITS below, wherever they are defined now); each is replaced, in every
dispatch module that holds it, by a wrapper that adds its duration to the request's total. On SQLite that is
`begin_write()`: the queue's flock and BEGIN IMMEDIATE; on PostgreSQL also the turn on the disaster's row that
the tally takes. Nothing in dispatch/ is changed.

    gunicorn -c gunicorn.conf.py bench.lock_app:app
"""

from __future__ import annotations

import functools
import sys
import time
from collections.abc import Callable
from typing import Any

from flask import g, has_app_context
from werkzeug.wrappers import Response

from bench.load import LOCK_WAIT_HEADER

HEADER = LOCK_WAIT_HEADER
# (function, the modules that may define it), first found wins.
WAITS = (
    ("begin_write", ("dispatch.write_lock", "dispatch.extensions")),
    ("take_turns_on_disaster", ("dispatch.write_lock", "dispatch.tally")),
)


def _timed(fn: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            if has_app_context():
                g.bench_lock_wait = g.get("bench_lock_wait", 0.0) + time.perf_counter() - started

    wrapper.bench_original = fn  # type: ignore[attr-defined]
    return wrapper


def _instrument() -> list[str]:
    """Wrap each entry point in every loaded dispatch module that refers to it; the names wrapped."""
    from bench.compat import first_module

    wrapped = []
    for name, homes in WAITS:
        home = first_module(*homes, having=name)
        if home is None:
            continue
        original = getattr(home, name)
        original = getattr(original, "bench_original", original)
        wrapper = _timed(original)
        for module_name, module in list(sys.modules.items()):
            if (module_name == "dispatch" or module_name.startswith("dispatch.")) and getattr(
                module, name, None
            ) is original:
                setattr(module, name, wrapper)
        wrapped.append(name)
    return wrapped


def create() -> Any:
    from dispatch import create_app

    # First the modules that define the entry points, so the modules the app imports next take the wrapper.
    instrumented = _instrument()
    application = create_app()
    # Then every module the app imported with its own reference to an original.
    _instrument()
    application.config["BENCH_LOCK_WAITS"] = instrumented

    @application.after_request
    def _report_wait(response: Response) -> Response:
        wait = g.get("bench_lock_wait")
        if wait is not None:
            response.headers[HEADER] = f"{wait:.6f}"
        return response

    return application


app = create()

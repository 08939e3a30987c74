"""Jobs raced against each other, as two workers or two schedulers would run them at the same moment."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from flask import Flask


def at_once(*jobs: Callable[[], Any], timeout: float = 60) -> list[Any]:
    """Run each job in a thread of its own, all released together; their results, in the jobs' order.

    Whatever a job raises fails the test here, in the test's own thread (pytest does not see a thread's
    exceptions).
    """
    start = threading.Barrier(len(jobs))
    results: list[Any] = [None] * len(jobs)
    errors: list[BaseException] = []

    def run(n: int, job: Callable[[], Any]) -> None:
        try:
            start.wait(timeout=10)
            results[n] = job()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(n, job)) for n, job in enumerate(jobs)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=timeout)
    assert not any(thread.is_alive() for thread in threads), f"a job ran longer than {timeout} s"
    assert errors == []
    return results


def in_context(app: Flask, function: Callable[..., Any], *args: Any, **kwargs: Any) -> Callable[[], Any]:
    """A job that calls the function inside the app's context."""

    def job() -> Any:
        with app.app_context():
            return function(*args, **kwargs)

    return job

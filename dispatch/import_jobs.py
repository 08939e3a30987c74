"""A large web import written in the background, its progress on a page that refreshes itself.

A file of tens of thousands of rows takes longer to write than a person will watch a spinning tab (and
longer than gunicorn's 60-second timeout allows at 200,000 rows on a busy machine). The design is the
simplest that works without JavaScript:

1. The import page reads and checks the file as before (importing.check_import): a file with errors is
   refused on the page at once, nothing is written.
2. A good file of more than BACKGROUND_ROWS rows is handed to a thread of the same process, which checks it
   again in its own session (the request's objects belong to the request) and writes it under the write
   lock like the CLI (write_lock.writing), reporting each chunk of rows written.
3. The person is sent to /disasters/<slug>/import/jobs/<token>: the rows written so far as a <progress>
   bar, refreshed every two seconds by <meta http-equiv="refresh">; once the import is committed the page
   sends them on to the list of the imported rows; a refusal found under the lock (a row logged since,
   a day closed since) is shown there, with nothing written.

The progress lives in a small JSON file in the instance folder, written whole and renamed into place, so
every worker of the server reads it (they share the instance folder on the one machine). The import's own
transaction cannot carry it: on SQLite nobody else may write while the import holds the write lock. The
token is random and the file names the user who started the import: only they see it. A server restarted
mid-import loses the thread; its transaction rolls back, nothing is written, and the page says so once
the progress is older than STALE_SECONDS.
"""

from __future__ import annotations

import json
import os
import secrets
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, cast

from flask import Flask, current_app

from .actors import Actor
from .errors import ImportRefused, Refusal
from .extensions import db
from .importing import RowError, check_import, write_import
from .models import Disaster
from .private_files import make_private_folder
from .write_lock import writing

# Files with more rows than this are written in the background; smaller ones in the request, as before.
BACKGROUND_ROWS = 20_000
# A job whose progress has not moved for this long lost its thread (a restart): reported as failed.
STALE_SECONDS = 300
# Problems kept for the page, as the import page shows them.
PROBLEMS_KEPT = 100
_TOKEN_BYTES = 18
# The running threads, by token: tests wait for them.
_threads: dict[str, threading.Thread] = {}


@dataclass
class Progress:
    owner: str
    filename: str
    total: int
    done: int = 0
    state: str = "checking"  # checking, writing, done, refused, failed
    record_id: int | None = None
    person_days: int = 0
    problems: list[tuple[int, str]] = field(default_factory=list)
    more: int = 0
    message: str = ""
    updated: float = field(default_factory=time.time)

    @property
    def finished(self) -> bool:
        return self.state in ("done", "refused", "failed")

    @property
    def stale(self) -> bool:
        return not self.finished and time.time() - self.updated > STALE_SECONDS

    @property
    def percent(self) -> int:
        return 100 * self.done // self.total if self.total else 0


def _folder(app: Flask) -> Path:
    """instance/imports, or IMPORT_JOB_FOLDER where set (tests)."""
    return Path(app.config.get("IMPORT_JOB_FOLDER") or Path(app.instance_path) / "imports")


def _path(app: Flask, token: str) -> Path:
    return _folder(app) / f"{token}.json"


def _save(app: Flask, token: str, progress: Progress) -> None:
    progress.updated = time.time()
    path = _path(app, token)
    partial = path.with_suffix(".part")
    partial.write_text(json.dumps(asdict(progress), ensure_ascii=False), encoding="utf-8")
    os.replace(partial, path)


def record(app: Flask, token: str, progress: Progress) -> None:
    """Keep a job's progress under its token (its folder made, private, if it is missing)."""
    make_private_folder(_folder(app))
    _save(app, token, progress)


def load(token: str) -> Progress | None:
    """A job's progress; None for a token no job has (or a malformed one)."""
    if not token.replace("-", "").replace("_", "").isalnum() or len(token) > 64:
        return None
    try:
        path = _path(current_app, token)
        values: dict[str, Any] = json.loads(path.read_text("utf-8"))
    except (OSError, ValueError):
        return None
    values["problems"] = [tuple(p) for p in values.get("problems", [])]
    return Progress(**values)


def start(
    disaster: Disaster, data: bytes, filename: str, encoding: str, actor: Actor, reason: str, rows: int
) -> str:
    """Write a checked file in the background; the token of its progress page."""
    app: Flask = current_app._get_current_object()  # type: ignore[attr-defined]
    make_private_folder(_folder(app))
    token = secrets.token_urlsafe(_TOKEN_BYTES)
    _save(app, token, Progress(owner=actor.name, filename=filename, total=rows))
    thread = threading.Thread(
        target=_run,
        args=(app, token, disaster.id, data, filename, encoding, actor, reason),
        name=f"import-{token[:8]}",
        daemon=True,
    )
    _threads[token] = thread
    thread.start()
    return token


def wait(token: str, timeout: float | None = None) -> None:
    """Until the job's thread has finished (for tests and the CLI of a test)."""
    thread = _threads.get(token)
    if thread is not None:
        thread.join(timeout)


def _run(
    app: Flask,
    token: str,
    disaster_id: int,
    data: bytes,
    filename: str,
    encoding: str,
    actor: Actor,
    reason: str,
) -> None:
    with app.app_context():
        progress = Progress(owner=actor.name, filename=filename, total=0)
        try:
            disaster = db.session.get_one(Disaster, disaster_id)
            checked = check_import(disaster, data, filename, encoding=encoding)
            progress.total = len(checked.drafts)
            progress.state = "writing"
            _save(app, token, progress)

            def advance(done: int, total: int) -> None:
                progress.done = done
                _save(app, token, progress)

            with writing():
                result = write_import(checked, actor, reason, advance)
            progress.state = "done"
            progress.done = progress.total
            progress.record_id = result.record_id
            progress.person_days = result.person_days
        except ImportRefused as refusal:
            # The importer's refusals list RowErrors (line and message).
            errors = cast(list[RowError], refusal.errors)
            progress.state = "refused"
            progress.problems = [(e.line, e.message) for e in errors[:PROBLEMS_KEPT]]
            progress.more = max(len(errors) - PROBLEMS_KEPT, 0)
        except Refusal as refusal:
            progress.state = "failed"
            progress.message = str(refusal)
        except Exception:
            current_app.logger.exception("background import %s failed", token)
            progress.state = "failed"
            progress.message = "取り込み中にエラーが発生しました。何も登録していません。"
        finally:
            db.session.remove()
            _save(app, token, progress)
            _threads.pop(token, None)

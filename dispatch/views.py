"""The web layer's front door: every page blueprint, the app-wide error pages, and the request pipeline.

The pipeline, for every view:

1. Access (access.py) has already refused whatever the user may not reach.
2. The view runs without the write lock: it reads, parses its form, checks it.
3. A page that writes is declared with ``@writes`` (web.py). Once its form is valid it hands the use case
   to ``web.write``, which takes the one write lock (write_lock.py), runs it, and commits once; on a
   refusal it rolls back and the page shows the refusal next to its form. Previews, the test mail and
   every GET never take the lock; a login takes it only to record its outcome, after the password hash.
   Two security writes are one short transaction of their own instead (security.py): counting a password
   check before its hash, and raising the session version at logout.
4. Any flush outside ``web.write`` is a bug and fails loudly (``UndeclaredWrite``), so a page that starts
   writing without declaring it fails its tests rather than writing without the lock.
5. A refusal no page caught is shown on the error page with its status; nothing was committed.

Before all of it, and before anything reads the database, a request carrying a NUL character anywhere a
person or a script can put one (the path, the query string, a form, JSON) is refused: PostgreSQL cannot
store or even compare such text. A fault of the machine (an exception no page expected, the database out
of reach, a full disk) is a page in Japanese that says what happened and what to do, with its traceback
in the log.
"""

from __future__ import annotations

import errno
import logging
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from flask import Flask, current_app, g, has_request_context, render_template, request
from flask_wtf.csrf import CSRFError
from sqlalchemy import event
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.orm import Session
from werkzeug.exceptions import InternalServerError
from werkzeug.routing import IntegerConverter, Map

from . import clock
from .errors import Refusal
from .extensions import db
from .limits import MAX_ID
from .models import Role
from .pages import (
    admin,
    audit,
    auth,
    batches,
    closing,
    counterparts,
    dashboard,
    day_grid,
    digests,
    disasters,
    entries,
    exports,
    field,
    fill,
    health,
    imports,
    organisations,
    recipients,
    request_files,
    request_links,
    requests,
    roster,
    roster_imports,
    totals,
)
from .web import COMMITTED, DECLARED_WRITING, WRITES, UndeclaredWrite
from .write_lock import holds_write_lock

FAULT_LOG = logging.getLogger("dispatch.fault")

PAGES = (
    auth,
    dashboard,
    disasters,
    entries,
    day_grid,
    batches,
    totals,
    imports,
    closing,
    exports,
    audit,
    recipients,
    digests,
    admin,
    organisations,
    requests,
    request_links,
    request_files,
    counterparts,
    fill,
    roster,
    roster_imports,
    field,
    health,
)


class IdConverter(IntegerConverter):
    """Every route's ``<int:…>``: at most limits.MAX_ID, so a 23-digit id is a page not found (404) rather
    than a number the database cannot hold (OverflowError on SQLite, DataError on PostgreSQL)."""

    def __init__(self, map: Map, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("max", MAX_ID)
        super().__init__(map, *args, **kwargs)


def register(app: Flask) -> None:
    # Before any route is added: each rule takes its converter when it is added.
    app.url_map.converters["int"] = IdConverter
    for page in PAGES:
        app.register_blueprint(page.bp)
    # First of all the request's functions (CSRF's and the access table's are registered before these
    # pages): nothing may read the database with a NUL in hand, and the access table loads the user.
    app.before_request_funcs.setdefault(None, []).insert(0, _refuse_nul)
    app.before_request(_declare)
    app.register_error_handler(Refusal, _refused)
    app.register_error_handler(CSRFError, _csrf_error)
    app.register_error_handler(403, _forbidden)
    app.register_error_handler(404, _not_found)
    app.register_error_handler(413, _too_large)
    app.register_error_handler(InternalServerError, _fault)
    app.context_processor(_layout_context)


def _refuse_nul() -> tuple[str, int] | None:
    if not _holds_nul():
        return None
    return render_template(
        "error.html",
        title="受け付けられない文字が含まれています",
        message="URLまたは入力に制御文字（NUL）が含まれているため、受け付けませんでした。"
        "何も保存していません。入力した内容や、リンクのURLをご確認ください。",
    ), 400


def _holds_nul() -> bool:
    return any("\x00" in text for text in _request_texts())


def _request_texts() -> Iterator[str]:
    """Every text of the request a person or a script chose: path, query string, form, file names, JSON."""
    yield request.path
    for values in (request.args, request.form):
        for key, value in values.items(multi=True):
            yield key
            yield value
    for key, file in request.files.items(multi=True):
        yield key
        yield file.filename or ""
    if request.is_json:
        yield from _json_texts(request.get_json(silent=True))


def _json_texts(value: object) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield key
            yield from _json_texts(item)
    elif isinstance(value, list):
        for item in value:
            yield from _json_texts(item)


def _declare() -> None:
    """Whether this request's view is declared writing (@writes): only then may it call web.write."""
    view = current_app.view_functions.get(request.endpoint or "")
    setattr(g, DECLARED_WRITING, bool(getattr(view, WRITES, False)))


def _refused(refusal: Refusal) -> tuple[str, int]:
    """A refusal no page showed next to its form: its message on the error page; nothing was committed."""
    return render_template(
        "error.html", title="受け付けられませんでした", message=str(refusal)
    ), refusal.status


@event.listens_for(Session, "before_flush")
def _only_under_the_write_lock(session: Session, flush_context: Any, instances: Any) -> None:
    if not has_request_context() or DECLARED_WRITING not in g:
        return
    if (session.new or session.dirty or session.deleted) and not holds_write_lock():
        raise UndeclaredWrite("a page flushed changes outside web.write (declare it @writes and use write())")


def _csrf_error(error: CSRFError) -> tuple[str, int]:
    return render_template(
        "error.html",
        title="送信を受け付けられませんでした",
        message="ページの有効期限が切れたか、不正な送信です。ページを開き直してもう一度送信してください。",
    ), 400


def _not_found(error: Any) -> tuple[str, int]:
    return render_template("error.html", title="ページが見つかりません", message="URLをご確認ください。"), 404


def _too_large(error: Any) -> tuple[str, int]:
    return render_template(
        "error.html", title="ファイルが大きすぎます", message="32MB以下のファイルにしてください。"
    ), 413


def _forbidden(error: Any) -> tuple[str, int]:
    return render_template(
        "error.html", title="権限がありません", message="この操作はあなたの役割では行えません。"
    ), 403


# What a fault page says: its status, title, what happened, what to do.
_FAULTS = {
    "database": (
        503,
        "データベースに接続できません",
        "データベースに接続できないため、表示も保存もできません。",
        "しばらく待ってからもう一度お試しください。続く場合はシステム管理者に連絡してください"
        "（データベースが動いているか、接続先の設定を確認してください）。",
    ),
    "disk": (
        503,
        "ディスクの空きがありません",
        "サーバーのディスクがいっぱいのため、保存できませんでした。",
        "システム管理者に連絡してください。ディスクの空きを確保してから、もう一度お試しください。",
    ),
    "error": (
        500,
        "エラーが発生しました",
        "処理の途中で予期しないエラーが起きました。",
        "もう一度お試しください。繰り返し起きる場合は、日時と操作した内容をシステム管理者に連絡してください"
        "（詳しい記録はサーバーのログにあります）。",
    ),
}


def _fault(error: InternalServerError) -> tuple[str, int, dict[str, str]]:
    """An exception no page expected, the database out of reach or a full disk: a page in Japanese.

    Flask has logged the traceback already; this adds one line naming the kind. The page is rendered
    without the context processors, which would load the logged-in user from the database. Whatever the
    request began was rolled back (web.write, and the session's end), unless write() had committed.
    """
    kind = _fault_kind(error.original_exception)
    status, title, what, todo = _FAULTS[kind]
    FAULT_LOG.error("fault=%s status=%s path=%s", kind, status, request.path)
    page = current_app.jinja_env.get_template("fault.html").render(
        title=title, what=what, todo=todo, committed=bool(g.get(COMMITTED))
    )
    headers = {"Retry-After": "60"} if status == 503 else {}
    return page, status, headers


def _fault_kind(exc: BaseException | None) -> str:
    """The kind of fault: the database out of reach, the disk full, or any other error. The exceptions an
    exception was raised from or during are read too (a rollback that fails on a dead connection)."""
    seen = 0
    while exc is not None and seen < 10:
        if _disk_full(exc):
            return "disk"
        if _database_unreachable(exc):
            return "database"
        exc = exc.__cause__ or exc.__context__
        seen += 1
    return "error"


def _database_unreachable(exc: BaseException) -> bool:
    # Raised while connecting (no statement yet) or on a connection that died: not a statement's error.
    if isinstance(exc, OperationalError | InterfaceError):
        return exc.connection_invalidated or exc.statement is None
    # A SQLite file's folder that is not there or not ours: its write queue (write_lock.py) cannot be
    # opened either, and that is how a writer finds out first.
    url = db.engine.url
    return (
        isinstance(exc, FileNotFoundError | PermissionError)
        and url.get_backend_name() == "sqlite"
        and bool(url.database and exc.filename)
        and Path(str(exc.filename)).parent == Path(str(url.database)).parent
    )


# PostgreSQL's SQLSTATE for disk_full.
_PG_DISK_FULL = "53100"


def _disk_full(exc: BaseException) -> bool:
    if isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
        return True
    if not isinstance(exc, DBAPIError):
        return False
    cause = exc.orig
    if isinstance(cause, sqlite3.Error):
        return getattr(cause, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL
    return getattr(cause, "sqlstate", None) == _PG_DISK_FULL


def _layout_context() -> dict[str, Any]:
    return {"today": clock.today(), "Role": Role}

"""The web layer's front door: every page blueprint, the app-wide error pages, and the request pipeline.

The pipeline, for every view:

1. Access (access.py) has already refused whatever the user may not reach.
2. The view runs without the write lock: it reads, parses its form, checks it.
3. A page that writes is declared with ``@writes`` (web.py). Once its form is valid it hands the use case
   to ``web.write``, which takes the one write lock (write_lock.py), runs it, and commits once; on a
   refusal it rolls back and the page shows the refusal next to its form. Login, logout, previews, the test
   mail and every GET never take the lock; a login takes it only to record its outcome, after the
   password hash.
4. Any flush outside ``web.write`` is a bug and fails loudly (``UndeclaredWrite``), so a page that starts
   writing without declaring it fails its tests rather than writing without the lock.
5. A refusal no page caught is shown on the error page with its status; nothing was committed.
"""

from __future__ import annotations

from typing import Any

from flask import Flask, current_app, g, has_request_context, render_template, request
from flask_wtf.csrf import CSRFError
from sqlalchemy import event
from sqlalchemy.orm import Session

from . import clock
from .errors import Refusal
from .models import Role
from .pages import (
    admin,
    audit,
    auth,
    batches,
    closing,
    dashboard,
    digests,
    entries,
    exports,
    health,
    imports,
    recipients,
    totals,
)
from .web import DECLARED_WRITING, WRITES, UndeclaredWrite
from .write_lock import holds_write_lock

PAGES = (
    auth,
    dashboard,
    entries,
    batches,
    totals,
    imports,
    closing,
    exports,
    audit,
    recipients,
    digests,
    admin,
    health,
)


def register(app: Flask) -> None:
    for page in PAGES:
        app.register_blueprint(page.bp)
    app.before_request(_declare)
    app.register_error_handler(Refusal, _refused)
    app.register_error_handler(CSRFError, _csrf_error)
    app.register_error_handler(403, _forbidden)
    app.register_error_handler(404, _not_found)
    app.register_error_handler(413, _too_large)
    app.context_processor(_layout_context)


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


def _layout_context() -> dict[str, Any]:
    return {"today": clock.today(), "Role": Role}

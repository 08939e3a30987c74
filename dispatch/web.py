"""What every page shares: the write step of the request pipeline, who is acting, what they may see,
which disaster, and the query string read once.

The pipeline has two halves. views.py wraps every view: it marks the request as declared writing or not,
refuses any flush that is not under the write lock, and shows a refusal that no page caught. A page that
writes is declared with ``@writes`` and, once its form is valid, hands its use case to ``write()``: the
lock, the use case, one commit, or a rollback and the refusal back to the page to show next to its form.
Pages never commit or roll back themselves.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import date
from typing import Any, TypeVar

from flask import abort, g, request
from flask_login import current_user
from sqlalchemy import select

from . import clock
from .access import visible_to
from .actors import Actor
from .extensions import db
from .models import Disaster, User
from .query import EntryFilter
from .wareki import WarekiError, parse_date
from .write_lock import begin_write, commit_keeping_objects

T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., Any])

# Set on a view function by @writes; read by the pipeline in views.py.
WRITES = "dispatch_writes"
# Set on flask.g by the pipeline for the request's view: True when it is declared writing.
DECLARED_WRITING = "dispatch_declared_writing"


class UndeclaredWrite(RuntimeError):
    """A page wrote without being declared with @writes, or outside write(): a bug, never a user's doing."""


def writes(view: F) -> F:
    """Declare that a page writes: only such a page may call write()."""
    setattr(view, WRITES, True)
    return view


def write(work: Callable[[], T]) -> T:
    """Take the write lock, run the use case and commit; on a refusal roll back and raise it to the page.

    Call it once the form is valid and any upload parsed: everything before runs without the lock, so
    other writers (on SQLite, every other writer) are not kept waiting by a slow form or a password hash.
    """
    if not g.get(DECLARED_WRITING):
        raise UndeclaredWrite(f"{request.endpoint} writes without @writes")
    begin_write()
    try:
        result = work()
        commit_keeping_objects()
    except BaseException:
        db.session.rollback()
        raise
    return result


def current_actor() -> Actor:
    user: User = current_user
    return Actor(user.username, user.user_role)


def visible_filter() -> EntryFilter:
    """What this user may see at all: everything, or a municipality's own entries."""
    return EntryFilter(visible_to=visible_to(current_user))


def disaster_or_404(slug: str) -> Disaster:
    disaster = db.session.scalar(select(Disaster).where(Disaster.slug == slug))
    if disaster is None:
        abort(404)
    return disaster


class QueryArgs:
    """The query string, read once: every date parsed by the one parser (ISO, 2023/7/20, 和暦, full-width)
    with the same message, and each value that does not parse reported under its name, never ignored."""

    def __init__(self, args: Mapping[str, str] | None = None) -> None:
        self.args = request.args if args is None else args
        self.errors: dict[str, str] = {}

    def text(self, name: str) -> str | None:
        return self.args.get(name, "").strip() or None

    def date(self, name: str) -> date | None:
        value = self.text(name)
        if value is None:
            return None
        try:
            return parse_date(value)
        except WarekiError as exc:
            self.errors[name] = str(exc)
            return None


def as_of_from_request() -> tuple[date, str | None]:
    """The ?as_of= date (today in Japan when absent), and the message when it does not parse."""
    args = QueryArgs()
    as_of = args.date("as_of")
    return as_of or clock.today(), args.errors.get("as_of")

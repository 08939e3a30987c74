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
from sqlalchemy import bindparam, select
from sqlalchemy.orm import joinedload

from . import clock
from .access import visible_to
from .actors import Actor
from .extensions import db
from .limits import MAX_ID, date_out_of_bounds
from .models import Disaster, User
from .query import EntryFilter
from .wareki import WarekiError, format_long, parse_date
from .write_lock import begin_write, commit_keeping_objects

T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., Any])

# Set on a view function by @writes; read by the pipeline in views.py.
WRITES = "dispatch_writes"
# Set on flask.g by the pipeline for the request's view: True when it is declared writing.
DECLARED_WRITING = "dispatch_declared_writing"
# Set on flask.g once write() has committed, so that a fault after it does not claim nothing was saved.
COMMITTED = "dispatch_committed"


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
    setattr(g, COMMITTED, True)
    return result


def current_actor() -> Actor:
    user: User = current_user
    return Actor(user.username, user.user_role)


def visible_filter() -> EntryFilter:
    """What this user may see at all: everything, or a municipality's own entries."""
    return EntryFilter(visible_to=visible_to(current_user))


# With its operations in the same statement: most pages show or check them (the entry form twice an
# entry, its POST and the form again), and a second statement for a handful of rows costs more. Built
# once: building it anew costs more Python than the database spends answering it.
_DISASTER_BY_SLUG = (
    select(Disaster).where(Disaster.slug == bindparam("slug")).options(joinedload(Disaster.operations))
)


def disaster_or_404(slug: str) -> Disaster:
    disaster = db.session.scalars(_DISASTER_BY_SLUG, {"slug": slug}).unique().one_or_none()
    if disaster is None:
        abort(404)
    return disaster


def parse_id(text: str) -> int | None:
    """An id or a page number as typed: ASCII digits up to limits.MAX_ID, else None (never an int the
    database cannot hold, nor a digit of another script)."""
    if not text.isascii() or not text.isdigit() or len(text) > len(str(MAX_ID)):
        return None
    number = int(text)
    return number if number <= MAX_ID else None


class QueryArgs:
    """The query string, read once: every date parsed by the one parser (ISO, 2023/7/20, 和暦, full-width)
    within the dates anyone may ask for (limits.py), ids and page numbers within what the database holds,
    and each value that does not parse reported under its name, never ignored."""

    def __init__(self, args: Mapping[str, str] | None = None) -> None:
        self.args = request.args if args is None else args
        self.errors: dict[str, str] = {}

    def text(self, name: str) -> str | None:
        return self.args.get(name, "").strip() or None

    def date_range(self, start: str = "date_from", end: str = "date_to") -> tuple[date | None, date | None]:
        """The two dates of a range; an end before the start is refused under the end's name, as a list or an
        export of it would be empty with nothing on the screen to say why."""
        first, last = self.date(start), self.date(end)
        if first is not None and last is not None and last < first:
            self.errors[end] = (
                f"終了日（{format_long(last)}）が開始日（{format_long(first)}）より前です。"
                "開始日以降の日付を指定してください。"
            )
        return first, last

    def date(self, name: str) -> date | None:
        value = self.text(name)
        if value is None:
            return None
        try:
            day = parse_date(value)
        except WarekiError as exc:
            self.errors[name] = str(exc)
            return None
        problem = date_out_of_bounds(day)
        if problem:
            self.errors[name] = problem
            return None
        return day

    def integer(self, name: str) -> int | None:
        """An id: None when absent, or when it is not one (reported under its name)."""
        value = self.text(name)
        if value is None:
            return None
        number = parse_id(value)
        if number is None:
            self.errors[name] = f"「{value}」は番号として読めません（{MAX_ID:,}以下の半角数字）。"
        return number

    def page(self) -> int:
        """?page=: 1 when absent; a page number that cannot exist is a page not found (404)."""
        value = self.text("page")
        if value is None:
            return 1
        number = parse_id(value)
        if number is None:
            abort(404)
        return max(number, 1)


def as_of_from_request() -> tuple[date, str | None]:
    """The ?as_of= date (today in Japan when absent), and the message when it does not parse."""
    args = QueryArgs()
    as_of = args.date("as_of")
    return as_of or clock.today(), args.errors.get("as_of")

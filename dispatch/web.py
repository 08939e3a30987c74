"""Request helpers the blueprints share: who is acting, what they may see, which disaster, which date."""

from __future__ import annotations

from datetime import date

from flask import abort, request
from flask_login import current_user
from sqlalchemy import select

from . import clock
from .access import visible_to
from .closing import Actor
from .extensions import db
from .models import Disaster, User
from .query import EntryFilter
from .wareki import WarekiError, parse_date


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


def as_of_from_request() -> tuple[date, str | None]:
    """The ?as_of= date (today in Japan when absent), and the message when it does not parse."""
    value = request.args.get("as_of", "").strip()
    if not value:
        return clock.today(), None
    try:
        return parse_date(value), None
    except WarekiError as exc:
        return clock.today(), str(exc)

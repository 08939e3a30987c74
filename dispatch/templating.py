"""Jinja filters: every date a person reads is in 和暦, every count has its thousands separator."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from zoneinfo import ZoneInfo

from flask import Flask

from . import wareki
from .config import TIME_ZONE


def register(app: Flask) -> None:
    app.jinja_env.filters["wareki"] = _never_failing(wareki.format_long)
    app.jinja_env.filters["wareki_short"] = wareki.format_short
    app.jinja_env.filters["wareki_weekday"] = _never_failing(wareki.format_with_weekday)
    app.jinja_env.filters["count"] = format_count
    app.jinja_env.filters["wareki_timestamp"] = format_timestamp
    app.jinja_env.filters["iso"] = lambda d: d.isoformat() if isinstance(d, date) else ""


def _never_failing(format_date: Callable[[date], str]) -> Callable[[date], str]:
    """A page, the error page above all, shows a date outside the eras (before 昭和) as ISO rather than
    fail: the edges refuse such dates, and a page must not be the next thing to break on one."""

    def written(day: date) -> str:
        try:
            return format_date(day)
        except wareki.WarekiError:
            return day.isoformat()

    return written


def format_count(value: int) -> str:
    return f"{value:,}"


def format_timestamp(value: datetime) -> str:
    """An audit stamp (stored in UTC) as people in Japan read it."""
    local = value.astimezone(ZoneInfo(TIME_ZONE))
    return f"{wareki.format_long(local.date())} {local:%H:%M}"

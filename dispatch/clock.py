"""What "today" is. Only the edges (views, CLI, scheduler) ask; everything below takes dates."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

from .config import TIME_ZONE


def today() -> date:
    return datetime.now(ZoneInfo(TIME_ZONE)).date()

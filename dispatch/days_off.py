"""Days off for weekday-only periods: Saturdays, Sundays and national holidays (国民の祝日, 振替休日,
国民の休日), from the maintained `jpholiday` package rather than a hand-written table."""

from __future__ import annotations

from datetime import date

import jpholiday

WEEKEND = {5: "土曜日", 6: "日曜日"}


def day_off(day: date) -> str | None:
    """Why the day is skipped (the holiday's name first: 秋分の日 on a Saturday is named as such), or None
    for a working day."""
    name = jpholiday.is_holiday_name(day)
    if name:
        return str(name)
    return WEEKEND.get(day.weekday())

"""締め: the division closes each date once its figures are checked, or reopens it with a reason."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from flask import Blueprint, flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from ..closing import close_day, closed_dates, reopen_day
from ..errors import Refusal
from ..forms import CloseDayForm, ReopenDayForm
from ..models import Disaster
from ..query import day_summaries
from ..wareki import format_long
from ..web import current_actor, disaster_or_404, write, writes

bp = Blueprint("closing", __name__)


@dataclass(frozen=True)
class DayRow:
    """One date on the closing page: its figures and whether they are 確定."""

    day: date
    entries: int
    person_days: int
    closed: bool


@bp.route("/disasters/<slug>/closing", methods=["GET", "POST"])
@writes
def closing_page(slug: str) -> Response | str:
    disaster = disaster_or_404(slug)
    close_form = CloseDayForm(prefix="close")
    reopen_form = ReopenDayForm(prefix="reopen")
    if request.method == "POST":
        try:
            message = _close_or_reopen(disaster, close_form, reopen_form)
        except Refusal as refusal:
            flash(str(refusal), "error")
        else:
            if message:
                flash(message, "success")
                return redirect(url_for(".closing_page", slug=slug))
    return render_template(
        "closing.html",
        disaster=disaster,
        days=_days(disaster),
        close_form=close_form,
        reopen_form=reopen_form,
    )


def _close_or_reopen(disaster: Disaster, close_form: CloseDayForm, reopen_form: ReopenDayForm) -> str:
    """The message of what was done, or "" when neither form was sent valid."""
    if close_form.submit.data and close_form.validate():
        to_close = close_form.day.date
        assert to_close is not None
        write(lambda: close_day(disaster, to_close, current_actor()))
        return f"{format_long(to_close)}を締めました（確定）。"
    if reopen_form.submit.data and reopen_form.validate():
        to_reopen = reopen_form.day.date
        assert to_reopen is not None
        write(lambda: reopen_day(disaster, to_reopen, current_actor(), reopen_form.reason.data or ""))
        return f"{format_long(to_reopen)}の締めを取り消しました（速報）。"
    return ""


def _days(disaster: Disaster) -> list[DayRow]:
    closed = closed_dates(disaster)
    days = [DayRow(day, n, person_days, day in closed) for day, n, person_days in day_summaries(disaster)]
    # A day may be closed with nothing on it (no dispatch that day is a checked figure too).
    days += [DayRow(d, 0, 0, True) for d in closed - {row.day for row in days}]
    days.sort(key=lambda row: row.day, reverse=True)
    return days

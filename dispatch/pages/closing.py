"""締め: the division closes each date once its figures are checked (one row's button, or every open day up
to a date after one confirmation), or reopens one date with a reason."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from flask import Blueprint, flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response
from wtforms import HiddenField
from wtforms.validators import InputRequired

from ..closing import (
    OpenDay,
    close_day,
    close_days_up_to,
    closed_dates,
    confirmation_of,
    open_days_up_to,
    reopen_day,
)
from ..errors import Refusal
from ..forms import CloseDayForm, DateField, JapaneseForm, ReopenDayForm
from ..models import Disaster
from ..query import day_summaries
from ..wareki import format_long
from ..web import QueryArgs, current_actor, disaster_or_404, write, writes

bp = Blueprint("closing", __name__)


@dataclass(frozen=True)
class DayRow:
    """One date on the closing page: its figures and whether they are 確定."""

    day: date
    entries: int
    person_days: int
    closed: bool


UP_TO_MISSING = "締める最後の日を入力してください。"


class CloseUpToForm(JapaneseForm):
    """The confirmation of closing every open day up to a date: the date, and what was shown (closing.py's
    fingerprint of the listed days and their figures)."""

    up_to = DateField("この日まで", validators=[InputRequired(message=UP_TO_MISSING)])
    confirmed = HiddenField()


@bp.route("/disasters/<slug>/closing", methods=["GET", "POST"])
@writes
def closing_page(slug: str) -> Response | str:
    disaster = disaster_or_404(slug)
    close_form = CloseDayForm(prefix="close")
    # A closed row's 取り消す link names its date (?reopen=); the reason is still typed.
    reopen_form = ReopenDayForm(prefix="reopen", day=request.args.get("reopen"))
    if request.method == "POST":
        try:
            message = _close_or_reopen(disaster, close_form, reopen_form)
        except Refusal as refusal:
            flash(str(refusal), "error")
        else:
            if message:
                flash(message, "success")
                return redirect(url_for(".closing_page", slug=slug))
    days = _days(disaster)
    open_days = [row.day for row in days if not row.closed and row.entries]
    return render_template(
        "closing.html",
        disaster=disaster,
        days=days,
        close_form=close_form,
        reopen_form=reopen_form,
        # The bulk form proposes the latest open day: "close everything entered so far".
        up_to=max(open_days, default=None),
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


@bp.route("/disasters/<slug>/closing/up-to", methods=["GET", "POST"])
@writes
def close_up_to(slug: str) -> Response | tuple[str, int]:
    """Every open day up to a date: GET lists them with their person-days, the one confirmation closes them."""
    disaster = disaster_or_404(slug)
    form = CloseUpToForm()
    status = 200
    if request.method == "GET":
        args = QueryArgs()
        up_to = args.date("up_to")
        if up_to is None:
            form.up_to.errors = [args.errors.get("up_to", UP_TO_MISSING)]
            return _confirmation(disaster, form, None, []), 400
    elif not form.validate_on_submit() or form.up_to.date is None:
        return _confirmation(disaster, form, None, []), 400
    else:
        up_to = form.up_to.date
        confirmed = form.confirmed.data or ""
        try:
            closed = write(lambda: close_days_up_to(disaster, up_to, current_actor(), confirmed))
        except Refusal as refusal:
            flash(str(refusal), "error")
            status = refusal.status
        else:
            flash(_closed_message(closed), "success")
            return redirect(url_for(".closing_page", slug=slug))
    days = open_days_up_to(disaster, up_to)
    form.up_to.data = up_to.isoformat()
    form.confirmed.data = confirmation_of(days)
    return _confirmation(disaster, form, up_to, days), status


def _confirmation(disaster: Disaster, form: CloseUpToForm, up_to: date | None, days: list[OpenDay]) -> str:
    return render_template(
        "closing_confirm.html",
        disaster=disaster,
        form=form,
        up_to=up_to,
        days=days,
        person_days=sum(d.person_days for d in days),
        entries=sum(d.entries for d in days),
    )


def _closed_message(days: list[OpenDay]) -> str:
    person_days = sum(d.person_days for d in days)
    period = (
        format_long(days[0].day)
        if len(days) == 1
        else f"{format_long(days[0].day)}～{format_long(days[-1].day)}"
    )
    return f"{len(days)}日を締めました（確定）: {period}、延べ{person_days:,}人。"

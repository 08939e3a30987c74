"""締め: the division closes each date once its figures are checked (one row's button, or every open day up
to a date after one confirmation), or reopens one date with a reason. A day whose roster and typed headcounts
disagree is marked and closed only with a reason; the roster's figure can be accepted from the flag."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from flask import Blueprint, flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response
from wtforms import HiddenField, SelectField

# types-WTForms 3.2 lacks SelectChoice, which WTForms 3.3 has.
from wtforms.fields.choices import SelectChoice  # type: ignore[attr-defined]
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
from ..disagreements import Disagreement, accept_roster, by_date, disagreements
from ..errors import ReasonRequired, Refusal
from ..forms import CloseDayForm, DateField, JapaneseForm, ReopenDayForm, closing_reason_field
from ..models import Disaster
from ..query import day_summaries
from ..wareki import format_long
from ..web import QueryArgs, current_actor, disaster_or_404, write, writes
from .entries import entry_or_404

bp = Blueprint("closing", __name__)


@dataclass(frozen=True)
class DayRow:
    """One date on the closing page: its figures and whether they are 確定."""

    day: date
    entries: int
    person_days: int
    closed: bool
    # Where the roster's and the typed headcounts differ (disagreements.py).
    disagreements: list[Disagreement] = field(default_factory=list)


UP_TO_MISSING = "締める最後の日を入力してください。"


class CloseUpToForm(JapaneseForm):
    """The confirmation of closing every open day up to a date: the date, and what was shown (closing.py's
    fingerprint of the listed days and their figures)."""

    up_to = DateField("この日まで", validators=[InputRequired(message=UP_TO_MISSING)])
    reason = closing_reason_field()
    confirmed = HiddenField()


class AcceptRosterForm(JapaneseForm):
    """Accepting the roster's headcount from a flag, and the page to go back to."""

    back = SelectField(
        choices=[SelectChoice("closing", ""), SelectChoice("dashboard", "")], default="closing"
    )


@bp.route("/disasters/<slug>/closing", methods=["GET", "POST"])
@writes
def closing_page(slug: str) -> Response | tuple[str, int]:
    disaster = disaster_or_404(slug)
    # A flagged row's link names its date (?close=): the reason is still typed.
    close_form = CloseDayForm(prefix="close", day=request.args.get("close"))
    # A closed row's 取り消す link names its date (?reopen=); the reason is still typed.
    reopen_form = ReopenDayForm(prefix="reopen", day=request.args.get("reopen"))
    status = 200
    if request.method == "POST":
        try:
            message = _close_or_reopen(disaster, close_form, reopen_form)
        except ReasonRequired as refusal:
            close_form.reason.errors = [str(refusal)]
            status = refusal.status
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
        flagged=[d for row in days for d in row.disagreements],
    ), status


def _close_or_reopen(disaster: Disaster, close_form: CloseDayForm, reopen_form: ReopenDayForm) -> str:
    """The message of what was done, or "" when neither form was sent valid."""
    if close_form.submit.data and close_form.validate():
        to_close = close_form.day.date
        assert to_close is not None
        reason = close_form.reason.data or ""
        write(lambda: close_day(disaster, to_close, current_actor(), reason))
        return f"{format_long(to_close)}を締めました（確定）。"
    if reopen_form.submit.data and reopen_form.validate():
        to_reopen = reopen_form.day.date
        assert to_reopen is not None
        write(lambda: reopen_day(disaster, to_reopen, current_actor(), reopen_form.reason.data or ""))
        return f"{format_long(to_reopen)}の締めを取り消しました（速報）。"
    return ""


def _days(disaster: Disaster) -> list[DayRow]:
    closed = closed_dates(disaster)
    flagged = by_date(disagreements(disaster.id))
    days = [
        DayRow(day, n, person_days, day in closed, flagged.get(day, []))
        for day, n, person_days in day_summaries(disaster)
    ]
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
    elif form.up_to.date is None:
        form.validate()
        return _confirmation(disaster, form, None, []), 400
    elif not form.validate_on_submit():
        # A reason that cannot be kept (too long, invisible characters): said beside it, the days shown again.
        up_to, status = form.up_to.date, 422
    else:
        up_to = form.up_to.date
        confirmed, reason = form.confirmed.data or "", form.reason.data or ""
        try:
            closed = write(lambda: close_days_up_to(disaster, up_to, current_actor(), confirmed, reason))
        except ReasonRequired as refusal:
            form.reason.errors = [str(refusal)]
            status = refusal.status
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
        flagged=by_date(disagreements(disaster.id, among=[d.day for d in days])),
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


@bp.post("/disasters/<slug>/entries/<int:entry_id>/accept-roster")
@writes
def accept_roster_figure(slug: str, entry_id: int) -> Response:
    """名簿の人数を採用: the typed headcount of a flagged entry is dropped, the roster's kept (audited)."""
    disaster = disaster_or_404(slug)
    entry = entry_or_404(disaster, entry_id)
    form = AcceptRosterForm()
    if form.validate_on_submit():
        try:
            write(lambda: accept_roster(entry, current_actor()))
        except Refusal as refusal:
            flash(str(refusal), "error")
        else:
            flash(f"名簿の人数（{entry.headcount}人）を採用しました。", "success")
    else:
        flash("名簿の人数を採用できませんでした。画面を読み込み直してから、もう一度お試しください。", "error")
    target = "dashboard.overview" if form.back.data == "dashboard" else ".closing_page"
    return redirect(url_for(target, slug=slug))

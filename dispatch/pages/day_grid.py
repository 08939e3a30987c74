"""The day grid: a day's dispatches typed as rows (keyboard first, type-ahead, 昨日と同じ, paste from Excel),
checked row by row and written all or none; and the look-up it types ahead with.

Without script the page is a plain form of rows; static/grid.js adds the keys, the suggestions and paste.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from flask import Blueprint, flash, jsonify, redirect, render_template, request, url_for
from flask_login import current_user
from werkzeug.wrappers import Response

from .. import clock
from ..access import visible_to
from ..day_grid import CELLS, GridCheck, GridRow, check, rows_from_form, rows_of_day
from ..entries import log_entry_ids, period_dates
from ..errors import LookupRefused, Refusal
from ..forms import DayGridForm, duty_choices, organisation_datalist
from ..lookup import Duties, Operations, Organisations
from ..models import Disaster
from ..query import EntryFilter, entries_summary
from ..wareki import format_long
from ..web import QueryArgs, current_actor, disaster_or_404, write, writes
from .entries import closed_days, form_status

bp = Blueprint("day_grid", __name__)

# Empty rows a plain form (no script) offers below the typed ones.
SPARE_ROWS = 5
# Suggestions the type-ahead shows at once.
SUGGESTIONS = 10


@bp.route("/disasters/<slug>/entries/day", methods=["GET", "POST"])
@writes
def day_grid(slug: str) -> Response | tuple[str, int]:
    disaster = disaster_or_404(slug)
    if request.method == "GET":
        return _opened(disaster)
    form = DayGridForm(disaster)
    rows = rows_from_form(request.form)
    checked: GridCheck | None = None
    status = 200
    if form.validate_on_submit():
        assert form.date.date is not None
        dates = period_dates(form.date.date, form.date_to.date or form.date.date)
        reason = form.reason.data or ""
        checked = check(disaster, dates, rows, current_actor(), reason)
        if not checked.filled:
            form.date.errors = ["登録する行がありません。派遣元と人数を入力してください。"]
            status = 422
        elif checked.refused:
            status = 422
        elif request.form.get("action") != "check":
            drafts = checked.drafts
            try:
                write(lambda: log_entry_ids(drafts, current_actor(), reason))
            except Refusal as refusal:
                flash(str(refusal), "error")
                status = refusal.status
            else:
                flash(_saved(dates, len(drafts), checked.person_days), "success")
                return redirect(url_for(".day_grid", slug=slug, date=dates[0].isoformat()))
    return _page(disaster, form, rows, checked, form_status(form, status))


def _opened(disaster: Disaster) -> tuple[str, int]:
    """A blank grid for ?date= (today by default), or pre-filled with the rows of ?from= (昨日と同じ); the
    pre-filled rows are checked at once, so a clash or a closed day shows before anything is typed."""
    args = QueryArgs()
    day = args.date("date") or clock.today()
    source = args.date("from")
    form = DayGridForm(disaster, date=day)
    if args.errors:
        form.date.errors = list(args.errors.values())
    rows = rows_of_day(disaster, source, visible_to(current_user)) if source else []
    if source and not rows:
        flash(f"{format_long(source)}の派遣はありません。", "error")
    checked = check(disaster, [day], rows, current_actor(), "") if rows else None
    return _page(disaster, form, rows, checked, 200)


def _saved(dates: list[date], count: int, person_days: int) -> str:
    when = (
        format_long(dates[0])
        if len(dates) == 1
        else f"{format_long(dates[0])}から{format_long(dates[-1])}まで"
    )
    return f"登録しました: {when} {count:,}件、延べ{person_days:,}人。"


def _page(
    disaster: Disaster, form: DayGridForm, rows: list[GridRow], checked: GridCheck | None, status: int
) -> tuple[str, int]:
    day = form.date.date if not form.date.errors else None
    shown = [*rows, *(GridRow({}) for _ in range(SPARE_ROWS if len(rows) < 20 else 1))]
    refused = checked is not None and checked.refused and request.method == "POST"
    focus = next((i for i, row in enumerate(shown) if row.refused), 0) if refused else 0
    saved = entries_summary(disaster, EntryFilter(date_from=day, date_to=day)) if day else None
    return render_template(
        "day_grid.html",
        disaster=disaster,
        form=form,
        rows=shown,
        cells=CELLS,
        checked=checked,
        focus=(focus, shown[focus].first_bad_cell if refused else CELLS[0][0]),
        day=day,
        yesterday=(day - timedelta(days=1)) if day else None,
        saved=saved,
        closed_days=closed_days(disaster),
        operations=[
            op.name for op in disaster.operations if op.end_date is None or (day and op.end_date >= day)
        ],
        duties=[name for _, name in duty_choices()],
        organisations=organisation_datalist(),
    ), status


@bp.get("/disasters/<slug>/lookup.json")
def lookup_json(slug: str) -> Response:
    """Type-ahead for the grid: what ``q`` resolves to by the one look-up (``match``), or why not
    (``message``, the candidates of an ambiguous text among ``suggestions``), and what it may be heading
    for. ``kind``: organisation, operation or duty."""
    disaster = disaster_or_404(slug)
    kind = request.args.get("kind", "organisation")
    text = request.args.get("q", "").strip()[:100]
    answer: dict[str, Any] = {"kind": kind, "q": text, "match": None, "message": None, "suggestions": []}
    if not text or kind not in ("organisation", "operation", "duty"):
        return jsonify(answer)
    if kind == "organisation":
        organisations = Organisations.load()
        answer["suggestions"] = organisations.suggest(text, SUGGESTIONS)
        try:
            answer["match"] = organisations.find(text).label
        except LookupRefused as exc:
            answer["message"] = str(exc)
    elif kind == "operation":
        operations = Operations(disaster)
        answer["suggestions"] = operations.suggest(text, SUGGESTIONS)
        try:
            answer["match"] = operations.find(text).name
        except LookupRefused as exc:
            answer["message"] = str(exc)
    else:
        duties = Duties.load()
        answer["suggestions"] = duties.suggest(text, SUGGESTIONS)
        try:
            answer["match"] = duties.find(text).name_ja
        except LookupRefused as exc:
            answer["message"] = str(exc)
    return jsonify(answer)

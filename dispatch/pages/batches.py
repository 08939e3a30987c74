"""Many entries at once: the same headcount over a period, and a day copied onto other days.

Both are previewed first (entries, person-days, clashes with what exists), then confirmed; a confirmation
carries a token naming exactly what was previewed, so it counts only for the values the user saw.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from datetime import date

from flask import Blueprint, flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from ..closing import ClosedNotice, closed_notice
from ..entries import (
    EntryDraft,
    Preview,
    copy_day,
    copy_drafts,
    log_entries,
    period_dates,
    period_drafts,
    preview,
    skipped_days,
)
from ..errors import Refusal
from ..forms import CopyDayForm, PeriodForm, organisation_datalist
from ..models import Disaster, Entry
from ..query import EntryFilter
from ..wareki import format_long
from ..web import current_actor, disaster_or_404, write, writes
from .entries import closed_days, form_status, show_refusal

bp = Blueprint("batches", __name__)


def _token(parts: Iterable[str]) -> str:
    """Names exactly what was previewed: a confirmation counts only for the values the user saw."""
    digest = hashlib.sha256()
    for part in parts:
        digest.update(part.encode())
    return digest.hexdigest()[:32]


def _added(entries: list[Entry], what: str) -> str:
    """E.g. 「13日分を登録しました（延べ65人）。」: worded inside the write, while the entries are loaded."""
    return f"{len(entries)}{what}しました（延べ{sum(e.headcount for e in entries):,}人）。"


@bp.route("/disasters/<slug>/entries/period", methods=["GET", "POST"])
@writes
def new_period(slug: str) -> Response | tuple[str, int]:
    """A headcount per day over a date range: previewed (days, person-days, clashes), then confirmed."""
    disaster = disaster_or_404(slug)
    status = 200
    form = PeriodForm(disaster)
    shown: Preview | None = None
    notice: ClosedNotice | None = None
    skipped: list[tuple[date, str]] = []
    if form.validate_on_submit():
        assert form.date_from.date is not None and form.date_to.date is not None
        skip = bool(form.skip_holidays.data)
        try:
            drafts = period_drafts(form.draft(form.date_from.date), form.date_to.date, skip_holidays=skip)
        except Refusal as refusal:
            form.skip_holidays.errors = [str(refusal)]
            return _period_page(disaster, form, None, 422)
        token = _token(repr((d.key, d.headcount, d.note)) for d in drafts)
        if form.confirmed.data == token:
            try:
                message = write(
                    lambda: _added(log_entries(drafts, current_actor(), form.reason.data or ""), "日分を登録")
                )
            except Refusal as refusal:
                status = show_refusal(disaster, refusal)
            else:
                flash(message, "success")
                return _to_list(slug, drafts)
        else:
            shown = preview(drafts)
            skipped = skipped_days(form.date_from.date, form.date_to.date) if skip else []
            notice = _closed(disaster, [d.date for d in drafts], form.reason.data)
        form.confirmed.data = token if shown and not shown.clashes and not (notice and notice.refusal) else ""
    return _period_page(disaster, form, shown, status, skipped, notice)


def _closed(disaster: Disaster, dates: Sequence[date], reason: str | None) -> ClosedNotice | None:
    """The closed days a batch would touch, said with the preview: saving would be refused (HQ, or no
    reason given), so no confirmation is offered until the dates or the reason change."""
    return closed_notice(disaster, dates, current_actor(), reason or "")


def _period_page(
    disaster: Disaster,
    form: PeriodForm,
    shown: Preview | None,
    status: int,
    skipped: Sequence[tuple[date, str]] = (),
    notice: ClosedNotice | None = None,
) -> tuple[str, int]:
    return render_template(
        "period_form.html",
        disaster=disaster,
        form=form,
        preview=shown,
        skipped=skipped,
        notice=notice,
        closed_days=closed_days(disaster),
        organisations=organisation_datalist(),
    ), form_status(form, status)


def _to_list(slug: str, drafts: list[EntryDraft]) -> Response:
    return redirect(
        url_for(
            "entries.entry_list",
            slug=slug,
            date_from=drafts[0].date.isoformat(),
            date_to=drafts[-1].date.isoformat(),
        )
    )


@bp.route("/disasters/<slug>/entries/copy", methods=["GET", "POST"])
@writes
def copy_entries(slug: str) -> Response | tuple[str, int]:
    """Repeat one day's entries on another day or range: rotations repeat."""
    disaster = disaster_or_404(slug)
    status = 200
    form = CopyDayForm(disaster, source=request.args.get("source", ""))
    shown: Preview | None = None
    notice: ClosedNotice | None = None
    if form.validate_on_submit():
        assert form.source.date is not None and form.target_from.date is not None
        source = form.source.date
        targets = period_dates(form.target_from.date, form.target_to.date or form.target_from.date)
        flt = EntryFilter(
            operation=form.operation.data or None,
            sender=form.sender.organisation.code if form.sender.organisation else None,
            destination=form.destination.organisation.code if form.destination.organisation else None,
        )
        token = _token([repr((source, targets, flt))])
        try:
            if form.confirmed.data == token:
                message = write(
                    lambda: _added(
                        copy_day(disaster, source, targets, flt, current_actor(), form.reason.data or ""),
                        "件をコピー",
                    )
                )
                flash(message, "success")
                return redirect(
                    url_for(
                        "entries.entry_list",
                        slug=slug,
                        date_from=targets[0].isoformat(),
                        date_to=targets[-1].isoformat(),
                    )
                )
            shown = preview(copy_drafts(disaster, source, targets, flt))
            notice = _closed(disaster, targets, form.reason.data)
        except Refusal as refusal:
            status = show_refusal(disaster, refusal)
        if shown is not None and not shown.count:
            form.source.errors = [f"{format_long(source)}の派遣はありません（絞り込みもご確認ください）。"]
            shown = None
        refused = bool(notice and notice.refusal)
        form.confirmed.data = token if shown and shown.count and not shown.clashes and not refused else ""
    return render_template(
        "copy_form.html",
        disaster=disaster,
        form=form,
        preview=shown,
        notice=notice,
        closed_days=closed_days(disaster),
        organisations=organisation_datalist(),
    ), form_status(form, status)

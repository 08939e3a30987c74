"""Entries one at a time: the entry form, the list, edit, delete and an entry's history."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from typing import Any, TypedDict

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user
from markupsafe import Markup, escape
from werkzeug.wrappers import Response

from .. import audit, clock
from ..access import allowed, visible_to
from ..audit_text import Change, Names, changes
from ..closing import closed_dates, closed_notice
from ..entries import delete_entry, find_entries, log_entry_ids, update_entry
from ..errors import DuplicateEntry, Refusal
from ..extensions import db
from ..forms import (
    DeleteForm,
    EntryForm,
    duty_choices,
    operation_choices,
    organisation_datalist,
)
from ..import_writing import imported_from
from ..lookup import LookupRefused, find_organisation
from ..models import AuditRecord, Disaster, Entry, User
from ..query import EntryFilter, entries_select, entries_summary
from ..totals import headline
from ..wareki import format_long
from ..web import QueryArgs, current_actor, disaster_or_404, visible_filter, write, writes

bp = Blueprint("entries", __name__)


def entry_or_404(disaster: Disaster, entry_id: int) -> Entry:
    """The entry, or 404 when it is not this disaster's or not this user's to see."""
    entry = db.session.get(Entry, entry_id)
    if entry is None or entry.operation.disaster_id != disaster.id:
        abort(404)
    org = visible_to(current_user)
    if org is not None and org not in (entry.sender_id, entry.destination_id):
        abort(404)
    return entry


def show_refusal(disaster: Disaster, refusal: Refusal) -> int:
    """Flash a refusal (a duplicate with links to the entries that already hold its keys); its status."""
    if isinstance(refusal, DuplicateEntry):
        flash(_duplicate_message(disaster, refusal), "error")
    else:
        flash(str(refusal), "error")
    return refusal.status


def _duplicate_message(disaster: Disaster, exc: DuplicateEntry) -> Markup:
    existing = find_entries(exc.keys)
    links = Markup("、").join(
        Markup('<a href="{}">{}</a>').format(
            url_for("entries.edit_entry", slug=disaster.slug, entry_id=e.id),
            f"{format_long(e.date)} {e.sender.name}→{e.destination.name} {e.duty.name_ja}（{e.headcount}人）",
        )
        for e in existing.values()
    )
    if not links:
        return Markup(escape(str(exc)))
    return Markup("{} 登録済み: {}").format(str(exc), links)


@dataclass(frozen=True)
class ClosedDays:
    """A disaster's closed days (ISO) and what this user is told about one before saving (closed_days.js)."""

    dates: list[str]
    message: str


def closed_days(disaster: Disaster, closed: Iterable[date] | None = None) -> ClosedDays:
    """`closed`: the disaster's closed dates, when the page has read them already."""
    if current_actor().may_amend_closed_days:
        message = "締め済み（確定）です。登録・変更には変更理由が必要です（監査ログに記録されます）。"
    else:
        message = "締め済み（確定）です。登録・変更はできません。変更は総合防災課に依頼してください。"
    dates = closed_dates(disaster) if closed is None else closed
    return ClosedDays(sorted(d.isoformat() for d in dates), message)


def form_status(form: Any, status: int = 200) -> int:
    """A POST that shows its form again was refused: 422 for invalid input, or the refusal's status."""
    if status == 200 and request.method == "POST" and form.errors:
        return 422
    return status


@bp.route("/disasters/<slug>/entries/new", methods=["GET", "POST"])
@writes
def new_entry(slug: str) -> Response | tuple[str, int]:
    disaster = disaster_or_404(slug)
    status = 200
    form = EntryForm(disaster, date=request.args.get("date") or clock.today())
    if form.validate_on_submit():
        assert form.date.date is not None
        draft = form.draft(form.date.date)
        try:
            write(lambda: log_entry_ids([draft], current_actor(), form.reason.data or ""))
        except Refusal as refusal:
            status = show_refusal(disaster, refusal)
        else:
            flash(
                f"登録しました: {format_long(draft.date)} {draft.sender.name}→"
                f"{draft.destination.name} {draft.duty.name_ja} {draft.headcount}人",
                "success",
            )
            return redirect(url_for(".new_entry", slug=slug, date=draft.date.isoformat()))
    day = None if form.date.errors else form.date.date
    # Read once: the page's script needs every closed date, the notice only the form's.
    closed = closed_dates(disaster)
    notice = (
        closed_notice(disaster, [day], current_actor(), form.reason.data or "", known_closed=closed)
        if day
        else None
    )
    return render_template(
        "entry_form.html",
        disaster=disaster,
        form=form,
        organisations=organisation_datalist(),
        closed_days=closed_days(disaster, closed),
        notice=notice,
        # A date the form refused is not looked up: it may lie centuries away.
        day_total=_day_total(disaster, None if form.date.errors else form.date.date),
    ), form_status(form, status)


def _day_total(disaster: Disaster, day: date | None) -> tuple[date, int, int] | None:
    if day is None:
        return None
    person_days, active = headline(disaster, day, visible_filter())
    return day, person_days, active


def list_filter() -> tuple[EntryFilter, dict[str, str]]:
    """The list's filter from the query string; a value that does not parse is reported, not ignored."""
    args = QueryArgs()
    date_from, date_to = args.date_range()
    flt = EntryFilter(
        date_from=date_from,
        date_to=date_to,
        operation=args.text("operation"),
        sender=_organisation_code(args, "sender"),
        destination=_organisation_code(args, "destination"),
        duty=args.text("duty"),
        imported=args.integer("imported"),
        visible_to=visible_to(current_user),
    )
    return flt, args.errors


def _organisation_code(args: QueryArgs, name: str) -> str | None:
    value = args.text(name)
    if value is None:
        return None
    try:
        return find_organisation(value).code
    except LookupRefused as refusal:
        args.errors[name] = str(refusal)
        return None


@bp.get("/disasters/<slug>/entries")
def entry_list(slug: str) -> tuple[str, int]:
    disaster = disaster_or_404(slug)
    flt, errors = list_filter()
    matched, person_days = entries_summary(disaster, flt)
    # The pager is told the count: counting the rows once for it and once for the summary doubles the
    # cost of the page on a large disaster.
    pagination = db.paginate(
        entries_select(disaster, flt),
        page=QueryArgs().page(),
        per_page=current_app.config["ENTRIES_PER_PAGE"],
        error_out=False,
        count=False,
    )
    pagination.total = matched
    return render_template(
        "entry_list.html",
        disaster=disaster,
        closed=closed_dates(disaster, [e.date for e in pagination.items]),
        flt=flt,
        errors=errors,
        pagination=pagination,
        matched=matched,
        person_days=person_days,
        operations=operation_choices(disaster),
        duties=duty_choices(),
        organisations=organisation_datalist(),
    ), 400 if flt.reversed_range else 200


@bp.route("/disasters/<slug>/entries/<int:entry_id>/edit", methods=["GET", "POST"])
@writes
def edit_entry(slug: str, entry_id: int) -> Response | tuple[str, int]:
    disaster = disaster_or_404(slug)
    status = 200
    entry = entry_or_404(disaster, entry_id)
    form = EntryForm(disaster, obj=None if request.method == "POST" else _entry_values(entry))
    if form.validate_on_submit():
        assert form.date.date is not None
        draft = form.draft(form.date.date)
        try:
            back = write(
                lambda: _list_args_for(update_entry(entry, draft, current_actor(), form.reason.data or ""))
            )
        except Refusal as refusal:
            status = show_refusal(disaster, refusal)
            entry = entry_or_404(disaster, entry_id)
        else:
            # A roster's entry keeps the roster's headcount; the one typed is kept beside it (disagreements.py).
            typed = "入力の人数を記録しました（集計は名簿の人数）。"
            flash(typed if entry.source == "roster" else "変更しました。", "success")
            return redirect(url_for(".entry_list", slug=slug, **back))
    # The entry's own day and the day it would move to: a change to either is refused or flagged if closed.
    days = [entry.date, *([form.date.date] if form.date.date and not form.date.errors else [])]
    return render_template(
        "entry_edit.html",
        disaster=disaster,
        entry=entry,
        form=form,
        organisations=organisation_datalist(),
        closed_days=closed_days(disaster),
        notice=closed_notice(disaster, days, current_actor(), form.reason.data or ""),
    ), form_status(form, status)


class _Values:
    """Initial form values for an entry (codes where the form holds codes)."""

    def __init__(self, **values: Any) -> None:
        self.__dict__.update(values)


def _entry_values(entry: Entry) -> _Values:
    return _Values(
        date=entry.date.isoformat(),
        operation=entry.operation.code,
        sender=entry.sender.label,
        sender_unit=entry.sender_unit,
        destination=entry.destination.label,
        duty=entry.duty.code,
        headcount=entry.headcount if entry.typed_headcount is None else entry.typed_headcount,
        note=entry.note,
    )


class _ListArgs(TypedDict):
    """The entry list's filter for one entry's day. Named keys, so that mypy can tell none of them is one of
    url_for's own flags (_external and the like)."""

    date_from: str
    date_to: str


def _list_args_for(entry: Entry) -> _ListArgs:
    return {"date_from": entry.date.isoformat(), "date_to": entry.date.isoformat()}


@bp.route("/disasters/<slug>/entries/<int:entry_id>/delete", methods=["GET", "POST"])
@writes
def delete_entry_page(slug: str, entry_id: int) -> Response | tuple[str, int]:
    disaster = disaster_or_404(slug)
    status = 200
    entry = entry_or_404(disaster, entry_id)
    form = DeleteForm()
    if form.validate_on_submit():
        back = _list_args_for(entry)
        try:
            write(lambda: delete_entry(entry, current_actor(), form.reason.data or ""))
        except Refusal as refusal:
            status = show_refusal(disaster, refusal)
            entry = entry_or_404(disaster, entry_id)
        else:
            flash(f"削除しました。{who_restores()}", "success")
            return redirect(url_for(".entry_list", slug=slug, **back))
    return render_template(
        "entry_delete.html",
        disaster=disaster,
        entry=entry,
        form=form,
        closed=entry.date in closed_dates(disaster, [entry.date]),
        who_restores=who_restores(),
    ), form_status(form, status)


def who_restores() -> str:
    """Who can bring a deleted entry back, said to this user: restoring is in the audit log, which HQ
    cannot open."""
    if allowed(current_user, "audit.restore_entry_view"):
        return "削除した内容は監査ログに残り、監査ログから復元できます。"
    return (
        "削除した内容は監査ログに残り、総合防災課（確認・締め担当）または管理者が監査ログから復元できます。"
    )


@bp.get("/disasters/<slug>/entries/<int:entry_id>/history")
def entry_history(slug: str, entry_id: int) -> str:
    """Every recorded change of one entry, oldest first; also for an entry deleted since.

    A municipality reads only the versions its own organisation sent or received: an entry moved to it
    from another municipality shows when it was entered and changed, not what the other body had.
    """
    disaster = disaster_or_404(slug)
    records = list(
        db.session.scalars(
            audit.audit_select(
                audit.AuditFilter(object_type="entry", object_id=entry_id, disaster_id=disaster.id)
            )
        )
    )
    own = _own_code()
    names = Names.of(records)
    entry = db.session.get(Entry, entry_id)
    if entry is not None:
        entry = entry_or_404(disaster, entry_id)
    elif not records or not _sees(own, records[0].before or records[0].after):
        abort(404)
    rows = [_history_row(record, own, names) for record in reversed(records)]
    # An imported entry's creation is in its import's one record (import_writing), unless it had its own.
    imported = None if any(r.action == "create" for r in records) else imported_from(disaster.id, entry_id)
    if imported is not None:
        rows.insert(0, HistoryRow(imported.record, imported.describe(), [], imported.record.reason))
    return render_template(
        "entry_history.html",
        disaster=disaster,
        entry=entry,
        entry_id=entry_id,
        rows=rows,
        action_labels=audit.ACTION_LABELS,
    )


# In place of a version (or of a change from it) that belonged to another body.
OTHER_BODY = "この時点の内容は他団体のため表示しません"


@dataclass(frozen=True)
class HistoryRow:
    """One record as this user may read it: the summary and reason, and each changed value."""

    record: AuditRecord
    summary: str
    changes: list[Change]
    reason: str
    hidden: str = ""


def _history_row(record: AuditRecord, own: str | None, names: Names) -> HistoryRow:
    before, after = record.before, record.after
    if _sees(own, before) and _sees(own, after):
        return HistoryRow(record, record.summary, changes(record, names), record.reason)
    # The summary is of the version the record left (or, for a deletion, the one it removed).
    if _sees(own, after if after is not None else before):
        return HistoryRow(record, record.summary, [], "", hidden=OTHER_BODY)
    return HistoryRow(record, OTHER_BODY, [], "")


def _own_code() -> str | None:
    """The code of the organisation whose versions alone this user may read; None: every version."""
    if visible_to(current_user) is None:
        return None
    user: User = current_user
    return user.organisation.code if user.organisation is not None else ""


def _sees(own: str | None, snapshot: dict[str, Any] | None) -> bool:
    if own is None or snapshot is None:
        return True
    return own in (snapshot.get("sender"), snapshot.get("destination"))

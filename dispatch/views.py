"""Pages and JSON. Thin: parse the form, call a service or a total, commit, redirect or render."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import date
from typing import Any, TypeVar

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_login import current_user
from flask_wtf import FlaskForm
from flask_wtf.csrf import CSRFError
from markupsafe import Markup, escape
from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.wrappers import Response as BaseResponse

from . import audit, clock, scheduler
from .access import visible_to
from .closing import ClosingError, close_day, closed_dates, reopen_day
from .extensions import begin_write, db
from .forms import (
    CloseDayForm,
    CopyDayForm,
    DeleteForm,
    EntryForm,
    ImportForm,
    PeriodForm,
    ReopenDayForm,
    duty_choices,
    find_organisation,
    operation_choices,
    organisation_datalist,
)
from .health import schema_state
from .importing import ImportRefused, import_dispatches
from .models import AuditRecord, Disaster, Entry, Operation, Role, User
from .query import EntryFilter, apply_filter, entries_select, joined
from .services import (
    DispatchError,
    DuplicateEntry,
    copy_day,
    delete_entry,
    find_entries,
    log_entries,
    period_dates,
    update_entry,
)
from .totals import Dimension, headline, totals
from .wareki import WarekiError, format_long, parse_date
from .web import as_of_from_request, current_actor, disaster_or_404, visible_filter

bp = Blueprint("dispatch", __name__)
T = TypeVar("T")


# Posts that take the write lock themselves, once the form is valid: checking it needs no lock, and on
# SQLite every other writer waits while one holds it.
LOCK_WHEN_WRITING = {"dispatch.new_entry"}


@bp.before_app_request
def _writers_take_the_lock() -> None:
    if request.method == "POST" and request.endpoint not in LOCK_WHEN_WRITING:
        begin_write()


@bp.app_errorhandler(CSRFError)
def _csrf_error(error: CSRFError) -> tuple[str, int]:
    return render_template(
        "error.html",
        title="送信を受け付けられませんでした",
        message="ページの有効期限が切れたか、不正な送信です。ページを開き直してもう一度送信してください。",
    ), 400


@bp.app_errorhandler(404)
def _not_found(error: Any) -> tuple[str, int]:
    return render_template("error.html", title="ページが見つかりません", message="URLをご確認ください。"), 404


@bp.app_errorhandler(413)
def _too_large(error: Any) -> tuple[str, int]:
    return render_template(
        "error.html", title="ファイルが大きすぎます", message="32MB以下のファイルにしてください。"
    ), 413


@bp.app_errorhandler(403)
def _forbidden(error: Any) -> tuple[str, int]:
    return render_template(
        "error.html", title="権限がありません", message="この操作はあなたの役割では行えません。"
    ), 403


@bp.app_context_processor
def _layout_context() -> dict[str, Any]:
    return {"today": clock.today(), "Role": Role}


def _entry(disaster: Disaster, entry_id: int) -> Entry:
    """The entry, or 404 when it is not this disaster's or not this user's to see."""
    entry = db.session.get(Entry, entry_id)
    if entry is None or entry.operation.disaster_id != disaster.id:
        abort(404)
    org = visible_to(current_user)
    if org is not None and org not in (entry.sender_id, entry.destination_id):
        abort(404)
    return entry


def _duplicate_message(disaster: Disaster, exc: DuplicateEntry) -> Markup:
    """The refusal with links to the entries that already hold these keys."""
    db.session.rollback()
    existing = find_entries(exc.keys)
    links = Markup("、").join(
        Markup('<a href="{}">{}</a>').format(
            url_for(".edit_entry", slug=disaster.slug, entry_id=e.id),
            f"{format_long(e.date)} {e.sender.name}→{e.destination.name} {e.duty.name_ja}（{e.headcount}人）",
        )
        for e in existing.values()
    )
    if not links:
        return Markup(escape(str(exc)))
    return Markup("{} 登録済み: {}").format(str(exc), links)


@bp.get("/")
def index() -> str:
    disasters = list(db.session.scalars(select(Disaster).order_by(Disaster.start_date.desc())))
    return render_template("index.html", disasters=disasters)


@bp.route("/disasters/<slug>/entries/new", methods=["GET", "POST"])
def new_entry(slug: str) -> BaseResponse | tuple[str, int]:
    disaster = disaster_or_404(slug)
    status = 200
    form = EntryForm(disaster, date=request.args.get("date") or clock.today())
    if form.validate_on_submit():
        assert form.date.date is not None
        draft = form.draft(form.date.date)

        def write() -> str:
            [entry] = log_entries([draft], current_actor(), form.reason.data or "")
            # Worded before the commit, while the entry's organisations are loaded, not reloaded after it.
            return (
                f"登録しました: {format_long(entry.date)} {entry.sender.name}→"
                f"{entry.destination.name} {entry.duty.name_ja} {entry.headcount}人"
            )

        begin_write()
        done, status = _attempt(disaster, write)
        if done:
            flash(done, "success")
            return redirect(url_for(".new_entry", slug=slug, date=draft.date.isoformat()))
    return render_template(
        "entry_form.html",
        disaster=disaster,
        form=form,
        organisations=organisation_datalist(),
        day_total=_day_total(disaster, form.date.date),
    ), _status(form, status)


def _attempt(disaster: Disaster, write: Callable[[], T]) -> tuple[T | None, int]:
    """Run a write use case and commit; a refusal is shown (a duplicate with links to what exists) and
    its status returned, with nothing written."""
    try:
        result = write()
    except DuplicateEntry as exc:
        flash(_duplicate_message(disaster, exc), "error")
        return None, 409
    except DispatchError as exc:
        db.session.rollback()
        flash(str(exc), "error")
        return None, 422
    db.session.commit()
    return result, 200


def _status(form: FlaskForm, status: int) -> int:
    """A POST that shows its form again was refused: 422 for invalid input, 409 for a duplicate."""
    if status == 200 and request.method == "POST" and form.errors:
        return 422
    return status


def _day_total(disaster: Disaster, day: date | None) -> tuple[date, int, int] | None:
    if day is None:
        return None
    person_days, active = headline(disaster, day, visible_filter())
    return day, person_days, active


@bp.route("/disasters/<slug>/entries/period", methods=["GET", "POST"])
def new_period(slug: str) -> BaseResponse | tuple[str, int]:
    """A headcount per day over a date range: previewed (days, person-days, clashes), then confirmed."""
    disaster = disaster_or_404(slug)
    status = 200
    form = PeriodForm(disaster)
    preview = None
    if form.validate_on_submit():
        assert form.date_from.date is not None and form.date_to.date is not None
        first = form.draft(form.date_from.date)
        drafts = [replace(first, date=d) for d in period_dates(first.date, form.date_to.date)]
        token = _preview_token(repr((d.key, d.headcount, d.note)) for d in drafts)
        if form.confirmed.data == token:
            entries, status = _attempt(
                disaster, lambda: log_entries(drafts, current_actor(), form.reason.data or "")
            )
            if entries:
                flash(
                    f"{len(entries)}日分を登録しました（延べ{sum(e.headcount for e in entries):,}人）。",
                    "success",
                )
                return redirect(
                    url_for(
                        ".entry_list",
                        slug=slug,
                        date_from=drafts[0].date.isoformat(),
                        date_to=drafts[-1].date.isoformat(),
                    )
                )
        else:
            clashes = find_entries(d.key for d in drafts)
            preview = Preview(
                count=len(drafts),
                person_days=sum(d.headcount for d in drafts),
                clashes=sorted(clashes.values(), key=lambda e: e.date),
            )
        form.confirmed.data = token if preview and not preview.clashes else ""
    return render_template(
        "period_form.html",
        disaster=disaster,
        form=form,
        preview=preview,
        organisations=organisation_datalist(),
    ), _status(form, status)


def _preview_token(parts: Iterable[str]) -> str:
    """Names exactly what was previewed: a confirmation counts only for the values the user saw."""
    digest = hashlib.sha256()
    for part in parts:
        digest.update(part.encode())
    return digest.hexdigest()[:32]


@dataclass(frozen=True)
class Preview:
    """What a period or a copy will add, shown before anything is written."""

    count: int
    person_days: int
    clashes: list[Entry]


@bp.route("/disasters/<slug>/entries/copy", methods=["GET", "POST"])
def copy_entries(slug: str) -> BaseResponse | tuple[str, int]:
    """Repeat one day's entries on another day or range: rotations repeat."""
    disaster = disaster_or_404(slug)
    status = 200
    form = CopyDayForm(disaster, source=request.args.get("source", ""))
    preview = None
    if form.validate_on_submit():
        assert form.source.date is not None and form.target_from.date is not None
        targets = period_dates(form.target_from.date, form.target_to.date or form.target_from.date)
        flt = EntryFilter(
            operation=form.operation.data or None,
            sender=form.sender.organisation.code if form.sender.organisation else None,
            destination=(form.destination.organisation.code if form.destination.organisation else None),
        )
        token = _preview_token([repr((form.source.date, targets, flt))])
        if form.confirmed.data == token:
            source = form.source.date
            entries, status = _attempt(
                disaster,
                lambda: copy_day(disaster, source, targets, flt, current_actor(), form.reason.data or ""),
            )
            if entries:
                flash(
                    f"{len(entries)}件をコピーしました（延べ{sum(e.headcount for e in entries):,}人）。",
                    "success",
                )
                return redirect(
                    url_for(
                        ".entry_list",
                        slug=slug,
                        date_from=targets[0].isoformat(),
                        date_to=targets[-1].isoformat(),
                    )
                )
        else:
            day = flt.narrowed(date_from=form.source.date, date_to=form.source.date)
            originals = list(db.session.scalars(entries_select(disaster, day)))
            keys = [
                (e.operation_id, t, e.sender_id, e.sender_unit, e.destination_id, e.duty_id)
                for t in targets
                for e in originals
            ]
            preview = Preview(
                count=len(keys),
                person_days=len(targets) * sum(e.headcount for e in originals),
                clashes=sorted(find_entries(keys).values(), key=lambda e: e.date),
            )
            if not originals:
                form.source.errors = [
                    f"{format_long(form.source.date)}の派遣はありません（絞り込みもご確認ください）。"
                ]
                preview = None
        form.confirmed.data = token if preview and preview.count and not preview.clashes else ""
    return render_template(
        "copy_form.html",
        disaster=disaster,
        form=form,
        preview=preview,
        organisations=organisation_datalist(),
    ), _status(form, status)


def _filter_from_args(disaster: Disaster) -> tuple[EntryFilter, dict[str, str]]:
    """The list's filter from the query string; a value that does not parse is reported, not ignored."""
    errors: dict[str, str] = {}
    args = request.args

    def day(name: str) -> date | None:
        value = args.get(name, "").strip()
        if not value:
            return None
        try:
            return parse_date(value)
        except WarekiError as exc:
            errors[name] = str(exc)
            return None

    def code(name: str) -> str | None:
        value = args.get(name, "").strip()
        if not value:
            return None
        org = find_organisation(value)
        if org is None:
            errors[name] = f"「{value}」に当たる団体が見つかりません。"
            return None
        return org.code

    flt = EntryFilter(
        date_from=day("date_from"),
        date_to=day("date_to"),
        operation=args.get("operation") or None,
        sender=code("sender"),
        destination=code("destination"),
        duty=args.get("duty") or None,
        visible_to=visible_to(current_user),
    )
    return flt, errors


@bp.get("/disasters/<slug>/entries")
def entry_list(slug: str) -> str:
    disaster = disaster_or_404(slug)
    flt, errors = _filter_from_args(disaster)
    page = request.args.get("page", 1, type=int)
    pagination = db.paginate(
        entries_select(disaster, flt),
        page=page,
        per_page=current_app.config["ENTRIES_PER_PAGE"],
        error_out=False,
    )
    summary = db.session.execute(
        apply_filter(
            joined(select(func.count(Entry.id), func.coalesce(func.sum(Entry.headcount), 0))),
            disaster,
            flt,
        )
    ).one()
    return render_template(
        "entry_list.html",
        disaster=disaster,
        closed=closed_dates(disaster, [e.date for e in pagination.items]),
        flt=flt,
        errors=errors,
        pagination=pagination,
        matched=int(summary[0]),
        person_days=int(summary[1]),
        operations=operation_choices(disaster),
        duties=duty_choices(),
        organisations=organisation_datalist(),
    )


@bp.route("/disasters/<slug>/entries/<int:entry_id>/edit", methods=["GET", "POST"])
def edit_entry(slug: str, entry_id: int) -> BaseResponse | tuple[str, int]:
    disaster = disaster_or_404(slug)
    status = 200
    entry = _entry(disaster, entry_id)
    form = EntryForm(disaster, obj=None if request.method == "POST" else _entry_values(entry))
    if form.validate_on_submit():
        assert form.date.date is not None
        draft = form.draft(form.date.date)
        updated, status = _attempt(
            disaster, lambda: update_entry(entry, draft, current_actor(), form.reason.data or "")
        )
        if updated:
            flash("変更しました。", "success")
            return redirect(url_for(".entry_list", slug=slug, **_list_args_for(updated)))
        entry = _entry(disaster, entry_id)
    return render_template(
        "entry_edit.html",
        disaster=disaster,
        entry=entry,
        form=form,
        organisations=organisation_datalist(),
    ), _status(form, status)


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
        headcount=entry.headcount,
        note=entry.note,
    )


def _list_args_for(entry: Entry) -> dict[str, str]:
    return {"date_from": entry.date.isoformat(), "date_to": entry.date.isoformat()}


@bp.route("/disasters/<slug>/entries/<int:entry_id>/delete", methods=["GET", "POST"])
def delete_entry_page(slug: str, entry_id: int) -> BaseResponse | tuple[str, int]:
    disaster = disaster_or_404(slug)
    status = 200
    entry = _entry(disaster, entry_id)
    form = DeleteForm()
    if form.validate_on_submit():
        back = _list_args_for(entry)
        try:
            delete_entry(entry, current_actor(), form.reason.data or "")
        except DispatchError as exc:
            status = 422
            db.session.rollback()
            flash(str(exc), "error")
            entry = _entry(disaster, entry_id)
        else:
            db.session.commit()
            flash("削除しました。削除した内容は監査ログから復元できます。", "success")
            return redirect(url_for(".entry_list", slug=slug, **back))
    return render_template(
        "entry_delete.html",
        disaster=disaster,
        entry=entry,
        form=form,
        closed=_closed_on(disaster, entry.date),
    ), _status(form, status)


@bp.get("/disasters/<slug>/totals")
def totals_page(slug: str) -> str:
    disaster = disaster_or_404(slug)
    as_of, error = as_of_from_request()
    tables = {
        dim: totals(disaster, as_of, dim, visible_filter())
        for dim in (Dimension.OPERATION, Dimension.DESTINATION, Dimension.SENDER, Dimension.DUTY)
    }
    person_days, active = headline(disaster, as_of, visible_filter())
    closed = closed_dates(disaster)
    return render_template(
        "totals.html",
        disaster=disaster,
        as_of=as_of,
        as_of_closed=as_of in closed,
        last_closed=max((d for d in closed if d <= as_of), default=None),
        as_of_error=error,
        person_days=person_days,
        active=active,
        tables=tables,
    )


@bp.get("/disasters/<slug>/totals.json")
def totals_json(slug: str) -> Response | tuple[Response, int]:
    disaster = disaster_or_404(slug)
    as_of, error = as_of_from_request()
    if error:
        return jsonify({"error": error}), 400
    by = request.args.get("by", Dimension.OPERATION.value)
    if by not in {d.value for d in Dimension}:
        choices = ", ".join(d.value for d in Dimension)
        return jsonify({"error": f"by は {choices} のいずれかです。"}), 400
    return jsonify(totals(disaster, as_of, Dimension(by), visible_filter()).as_json())


@bp.route("/disasters/<slug>/import", methods=["GET", "POST"])
def import_page(slug: str) -> BaseResponse | tuple[str, int]:
    disaster = disaster_or_404(slug)
    status = 200
    form = ImportForm()
    errors = []
    if form.validate_on_submit():
        upload = form.file.data
        try:
            result = import_dispatches(
                disaster,
                upload.read(),
                upload.filename or "",
                encoding=form.encoding.data,
                actor=current_actor(),
                reason=form.reason.data or "",
            )
        except ImportRefused as exc:
            status = 422
            db.session.rollback()
            errors = exc.errors
        else:
            db.session.commit()
            flash(
                f"{len(result.entry_ids):,}行を取り込みました（延べ{result.person_days:,}人）。",
                "success",
            )
            return redirect(url_for(".entry_list", slug=slug))
    return render_template("import.html", disaster=disaster, form=form, errors=errors), _status(form, status)


def _closed_on(disaster: Disaster, day: date) -> bool:
    return day in closed_dates(disaster, [day])


@bp.get("/disasters/<slug>/entries/<int:entry_id>/history")
def entry_history(slug: str, entry_id: int) -> str:
    """Every recorded change of one entry, oldest first; also for an entry deleted since."""
    disaster = disaster_or_404(slug)
    records = list(
        db.session.scalars(
            audit.audit_select(
                audit.AuditFilter(object_type="entry", object_id=entry_id, disaster_id=disaster.id)
            )
        )
    )
    entry = db.session.get(Entry, entry_id)
    if entry is not None:
        entry = _entry(disaster, entry_id)
    elif not records or not _may_see_snapshot(records[0]):
        abort(404)
    return render_template(
        "entry_history.html",
        disaster=disaster,
        entry=entry,
        entry_id=entry_id,
        records=list(reversed(records)),
        action_labels=audit.ACTION_LABELS,
    )


def _may_see_snapshot(record: AuditRecord) -> bool:
    org = visible_to(current_user)
    if org is None:
        return True
    values = record.before or record.after or {}
    codes = {values.get("sender"), values.get("destination")}
    user: User = current_user
    return user.organisation is not None and user.organisation.code in codes


@dataclass(frozen=True)
class DayRow:
    """One date on the closing page: its figures and whether they are 確定."""

    day: date
    entries: int
    person_days: int
    closed: bool


@bp.route("/disasters/<slug>/closing", methods=["GET", "POST"])
def closing_page(slug: str) -> BaseResponse | str:
    """締め: the division closes each date once its figures are checked, or reopens it with a reason."""
    disaster = disaster_or_404(slug)
    close_form = CloseDayForm(prefix="close")
    reopen_form = ReopenDayForm(prefix="reopen")
    if request.method == "POST":
        try:
            if close_form.submit.data and close_form.validate():
                assert close_form.day.date is not None
                close_day(disaster, close_form.day.date, current_actor())
                message = f"{format_long(close_form.day.date)}を締めました（確定）。"
            elif reopen_form.submit.data and reopen_form.validate():
                assert reopen_form.day.date is not None
                reopen_day(disaster, reopen_form.day.date, current_actor(), reopen_form.reason.data or "")
                message = f"{format_long(reopen_form.day.date)}の締めを取り消しました（速報）。"
            else:
                message = ""
        except ClosingError as exc:
            db.session.rollback()
            flash(str(exc), "error")
        else:
            if message:
                db.session.commit()
                flash(message, "success")
                return redirect(url_for(".closing_page", slug=slug))
    per_day = db.session.execute(
        apply_filter(
            joined(select(Entry.date, func.count(Entry.id), func.sum(Entry.headcount))),
            disaster,
            EntryFilter(),
        )
        .group_by(Entry.date)
        .order_by(Entry.date.desc())
    ).all()
    closed = closed_dates(disaster)
    days = [DayRow(d, int(n), int(pd), d in closed) for d, n, pd in per_day]
    # A day may be closed with nothing on it (no dispatch that day is a checked figure too).
    days += [DayRow(d, 0, 0, True) for d in closed - {row.day for row in days}]
    days.sort(key=lambda row: row.day, reverse=True)
    return render_template(
        "closing.html",
        disaster=disaster,
        days=days,
        close_form=close_form,
        reopen_form=reopen_form,
    )


@bp.get("/healthz")
def healthz() -> tuple[Response, int]:
    """For monitoring, without login or secrets. 503 only when the database is unreachable; a stale
    scheduler heartbeat or a failed digest run is "degraded" with 200, since the pages still work."""
    try:
        db.session.execute(select(func.count(Operation.id)))
        schema = schema_state()
        degraded, fields = scheduler.health()
    except SQLAlchemyError:
        db.session.rollback()
        return jsonify({"status": "error", "database": "unreachable"}), 503
    # A schema behind the code (an upgrade without `flask db upgrade`) breaks pages: report it as degraded.
    status = "degraded" if degraded or not schema["at_head"] else "ok"
    return jsonify({"status": status, "database": "ok", "schema": schema, **fields}), 200

"""The audit log: filter, export, and restore a deleted entry from it."""

from __future__ import annotations

import json
from collections.abc import Iterator

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from sqlalchemy import select
from werkzeug.wrappers import Response
from wtforms import StringField

from ..audit import ACTION_LABELS, OBJECT_LABELS, AuditFilter, audit_select
from ..audit_text import describe
from ..entries import restore_entry
from ..errors import DuplicateEntry, Refusal
from ..exports import ENCODINGS, Unencodable, check_cp932, csv_lines, csv_response
from ..extensions import db
from ..forms import JapaneseForm
from ..models import AuditRecord, Disaster
from ..templating import format_timestamp
from ..web import QueryArgs, current_actor, write, writes

bp = Blueprint("audit", __name__, url_prefix="/audit")


class RestoreForm(JapaneseForm):
    reason = StringField("理由（締め済みの日のみ必須）")


def _filter() -> tuple[AuditFilter, dict[str, str]]:
    args = QueryArgs()
    slug = args.text("disaster")
    disaster = db.session.scalar(select(Disaster).where(Disaster.slug == slug)) if slug else None
    date_from, date_to = args.date_range()
    flt = AuditFilter(
        actor=args.text("actor"),
        date_from=date_from,
        date_to=date_to,
        object_type=args.text("object_type"),
        object_id=args.integer("object_id"),
        disaster_id=disaster.id if disaster else None,
    )
    return flt, args.errors


@bp.get("")
def audit_log() -> tuple[str, int]:
    flt, errors = _filter()
    pagination = db.paginate(
        audit_select(flt),
        page=QueryArgs().page(),
        per_page=current_app.config["ENTRIES_PER_PAGE"],
        error_out=False,
    )
    return render_template(
        "audit_log.html",
        pagination=pagination,
        flt=flt,
        errors=errors,
        args={k: v for k, v in request.args.items() if k not in ("page", "encoding")},
        action_labels=ACTION_LABELS,
        object_labels=OBJECT_LABELS,
        changes=describe(pagination.items),
        restore_form=RestoreForm(),
    ), 400 if flt.reversed_range else 200


@bp.get("/export.csv")
def audit_export() -> Response | tuple[str, int]:
    flt, errors = _filter()
    if errors:
        # As the page shows them: a filter that does not read is never an export of everything.
        return _refused("　".join(errors.values()), 400)
    encoding = request.args.get("encoding", "utf-8")
    if encoding not in ENCODINGS:
        return _refused(f"文字コード「{encoding}」には対応していません（utf-8 または cp932）。", 400)
    if encoding == "cp932":
        # A first pass over the same rows: a file that cannot be written whole is refused before any byte.
        try:
            check_cp932(csv_lines(EXPORT_HEADER, _export_rows(flt)))
        except Unencodable as exc:
            return _refused(f"{exc}。UTF-8 で出力してください。", 422)
    return csv_response("監査ログ.csv", EXPORT_HEADER, _export_rows(flt), encoding)


EXPORT_HEADER = [
    "日時",
    "利用者",
    "操作",
    "対象",
    "対象ID",
    "内容",
    "変更前",
    "変更後",
    "理由",
    "確定日の変更",
    "変更内容",
]


def _export_rows(flt: AuditFilter) -> Iterator[list[object]]:
    # A generator, so the query runs when the response streams, in the session of that moment: the
    # request's own session is closed by then, and records loaded in it could no longer be read.
    # The names behind the codes are looked up once per chunk of records.
    for chunk in db.session.scalars(audit_select(flt).execution_options(yield_per=1000)).partitions():
        changes = describe(chunk)
        for r in chunk:
            yield [
                format_timestamp(r.at),
                r.actor,
                ACTION_LABELS.get(r.action, r.action),
                OBJECT_LABELS.get(r.object_type, r.object_type),
                r.object_id or "",
                r.summary,
                _json(r.before),
                _json(r.after),
                r.reason,
                "はい" if r.closed_day_change else "",
                "\n".join(str(change) for change in changes[r.id]),
            ]


def _refused(message: str, status: int) -> tuple[str, int]:
    return render_template("error.html", title="出力できません", message=message), status


def _json(value: object) -> str:
    return "" if value is None else json.dumps(value, ensure_ascii=False, sort_keys=True)


@bp.post("/<int:record_id>/restore")
@writes
def restore_entry_view(record_id: int) -> Response:
    record = db.session.get(AuditRecord, record_id) or abort(404)
    form = RestoreForm()
    if not form.validate_on_submit():
        abort(400)
    try:
        slug, entry_id = write(lambda: _restored(record, form.reason.data or ""))
    except DuplicateEntry:
        flash("同じ内容の派遣が既に登録されているため、復元できません。", "error")
    except Refusal as exc:
        flash(str(exc), "error")
    else:
        flash("派遣を復元しました。", "success")
        return redirect(url_for("entries.entry_history", slug=slug, entry_id=entry_id))
    return redirect(url_for("audit.audit_log", object_type="entry", object_id=record.object_id))


def _restored(record: AuditRecord, reason: str) -> tuple[str, int]:
    entry = restore_entry(record, current_actor(), reason)
    return entry.operation.disaster.slug, entry.id

"""Downloads: the entries (with the list's filters) and the totals, as CSV and .xlsx.

Every export goes through the same filter as the pages, including what a municipality user may see, so a file
never holds more than the screen shows. CSV streams; a workbook is written row by row to a temporary file,
or, past EXPORT_JOB_ROWS entries, built by the scheduler as a job with a progress page (export_jobs.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from flask import Blueprint, Response, abort, redirect, render_template, request, url_for
from flask_login import current_user
from markupsafe import Markup
from werkzeug.wrappers import Response as WerkzeugResponse

from .. import clock, export_jobs
from ..exports import (
    ENCODINGS,
    ENTRY_HEADER,
    TooManyRows,
    Unencodable,
    check_cp932,
    csv_entry_rows,
    csv_lines,
    csv_response,
    file_response,
    last_entry_date,
    monthly_rows,
    totals_csv_rows,
    workbook_entry_count_past,
    write_monthly_workbook,
    write_workbook,
    xlsx_response,
)
from ..models import Disaster
from ..query import EntryFilter
from ..totals import Dimension, totals
from ..wareki import format_long
from ..web import as_of_from_request, disaster_or_404, visible_filter, write, writes
from .entries import list_filter
from .totals import interval_from_request

bp = Blueprint("exports", __name__)

# A refused export: the error page and its status.
Refused = tuple[str, int]
# Seconds between reloads of a job's progress page.
REFRESH_SECONDS = 3


@bp.get("/disasters/<slug>/entries.csv")
def entries_csv(slug: str) -> Response | Refused:
    disaster = disaster_or_404(slug)
    flt, errors = list_filter()
    encoding = request.args.get("encoding", "utf-8")
    if errors or encoding not in ENCODINGS:
        return _refused(list(errors.values()) if errors else [_unknown_encoding(encoding)])
    if encoding == "cp932":
        # A first pass over the same rows: a file that cannot be written whole is refused before any byte.
        try:
            check_cp932(csv_lines(ENTRY_HEADER, csv_entry_rows(disaster, flt)))
        except Unencodable as exc:
            return _unencodable(exc)
    as_of = _list_as_of(disaster, flt)
    return csv_response(
        f"派遣一覧_{format_long(as_of)}時点.csv",
        ENTRY_HEADER,
        csv_entry_rows(disaster, flt),
        encoding,
        fallback=f"{slug}_entries_{as_of.isoformat()}.csv",
    )


@bp.get("/disasters/<slug>/entries.xlsx")
@writes
def entries_xlsx(slug: str) -> Response | WerkzeugResponse | Refused:
    disaster = disaster_or_404(slug)
    flt, errors = list_filter()
    if errors:
        return _refused(list(errors.values()))
    as_of = _list_as_of(disaster, flt)
    return _workbook(
        f"派遣一覧_{format_long(as_of)}時点.xlsx",
        f"{slug}_entries_{as_of.isoformat()}.xlsx",
        disaster,
        flt,
        as_of,
        "entries",
    )


@bp.get("/disasters/<slug>/totals.xlsx")
@writes
def totals_xlsx(slug: str) -> Response | WerkzeugResponse | Refused:
    disaster = disaster_or_404(slug)
    as_of, error = as_of_from_request()
    if error:
        return _refused([f"時点: {error}"])
    return _workbook(
        f"集計_{format_long(as_of)}時点.xlsx",
        f"{slug}_totals_{as_of.isoformat()}.xlsx",
        disaster,
        visible_filter(),
        as_of,
        "totals",
    )


@bp.get("/disasters/<slug>/totals.csv")
def totals_csv(slug: str) -> Response | Refused:
    disaster = disaster_or_404(slug)
    as_of, error = as_of_from_request()
    by = request.args.get("by", Dimension.OPERATION.value)
    encoding = request.args.get("encoding", "utf-8")
    problems = [f"時点: {error}"] if error else []
    if by not in {d.value for d in Dimension}:
        problems.append(f"by は {'、'.join(d.value for d in Dimension)} のいずれかです。")
    if encoding not in ENCODINGS:
        problems.append(_unknown_encoding(encoding))
    if problems:
        return _refused(problems)
    table = totals(disaster, as_of, Dimension(by), visible_filter())
    header, rows = totals_csv_rows(table)
    return _csv_or_refused(
        f"集計_{table.by.label}別_{format_long(as_of)}時点.csv",
        header,
        rows,
        encoding,
        fallback=f"{slug}_totals_{by}_{as_of.isoformat()}.csv",
    )


@bp.get("/disasters/<slug>/monthly.csv")
def monthly_csv(slug: str) -> Response | Refused:
    """Monthly person-days of ?from=&to= (or ?month=, ?fy=) per operation and per sender kind."""
    disaster = disaster_or_404(slug)
    interval, problems = interval_from_request()
    encoding = request.args.get("encoding", "utf-8")
    if interval is None:
        return _refused(problems or ["期間（from と to、month または fy）を指定してください。"])
    if encoding not in ENCODINGS:
        return _refused([_unknown_encoding(encoding)])
    header, rows = monthly_rows(disaster, interval, visible_filter())
    return _csv_or_refused(
        f"月別集計_{interval.label()}.csv",
        header,
        rows,
        encoding,
        fallback=f"{slug}_monthly_{interval.start.isoformat()}_{interval.end.isoformat()}.csv",
    )


@bp.get("/disasters/<slug>/monthly.xlsx")
def monthly_xlsx(slug: str) -> Response | Refused:
    disaster = disaster_or_404(slug)
    interval, problems = interval_from_request()
    if interval is None:
        return _refused(problems or ["期間（from と to、month または fy）を指定してください。"])
    flt = visible_filter()
    return xlsx_response(
        f"月別集計_{interval.label()}.xlsx",
        f"{slug}_monthly_{interval.start.isoformat()}_{interval.end.isoformat()}.xlsx",
        lambda file: write_monthly_workbook(file, disaster, interval, flt),
    )


def _workbook(
    filename: str, fallback: str, disaster: Disaster, flt: EntryFilter, as_of: date, kind: str
) -> Response | WerkzeugResponse | Refused:
    """The workbook at once, or past EXPORT_JOB_ROWS entries a job for the scheduler and its progress page."""
    threshold = export_jobs.threshold()
    try:
        if workbook_entry_count_past(disaster, flt, as_of, threshold + 1) > threshold:
            # Counted whole by the job; one past Excel's rows fails there with the same message.
            user = current_user._get_current_object()
            job = write(lambda: export_jobs.ask(user, disaster, kind, flt, as_of, filename))
            return redirect(url_for("exports.export_job", slug=disaster.slug, job_id=job.id))
        return xlsx_response(filename, fallback, lambda file: write_workbook(file, disaster, flt, as_of))
    except TooManyRows as exc:
        return render_template("error.html", title="Excel の行数の上限を超えます", message=str(exc)), 422


@bp.get("/disasters/<slug>/exports/<int:job_id>")
def export_job(slug: str, job_id: int) -> Response | str:
    """A large workbook's progress: rows written of the total, reloading itself (a Refresh header, no
    script) until it is built; then its download link, or why it failed."""
    disaster = disaster_or_404(slug)
    job = export_jobs.job_for(current_user, disaster, job_id)
    if job is None:
        abort(404)
    finished = job.status not in export_jobs.UNFINISHED
    body = render_template(
        "export_job.html",
        disaster=disaster,
        job=job,
        finished=finished,
        available=export_jobs.file_of(job) is not None,
        keep_hours=export_jobs.keep_for().total_seconds() / 3600,
        # Counted when the build starts (an empty workbook counts as soon as it is built).
        counted=job.started_at is not None and (job.rows_total > 0 or finished),
        threshold=export_jobs.threshold(),
        percent=min(100, job.rows_written * 100 // job.rows_total) if job.rows_total else 0,
    )
    response = Response(body)
    if not finished:
        response.headers["Refresh"] = str(REFRESH_SECONDS)
    # The page changes as the job runs: never from a cache.
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/disasters/<slug>/exports/<int:job_id>/file")
def export_job_file(slug: str, job_id: int) -> Response:
    disaster = disaster_or_404(slug)
    job = export_jobs.job_for(current_user, disaster, job_id)
    path = export_jobs.file_of(job) if job is not None else None
    if job is None or path is None:
        abort(404)
    fallback = f"{slug}_{job.kind}_{job.as_of.isoformat()}.xlsx"
    file = path.open("rb")
    return file_response(file, path.stat().st_size, job.file_name or fallback, fallback)


def _list_as_of(disaster: Disaster, flt: EntryFilter) -> date:
    """The date a list export is as of: the filter's end, else today or the last entry if that is later
    (a rota entered ahead), so the workbook's totals cover every entry its list sheet holds."""
    if flt.date_to is not None:
        return flt.date_to
    today = clock.today()
    last = last_entry_date(disaster, flt)
    return today if last is None else max(today, last)


def _unknown_encoding(encoding: str) -> str:
    return f"文字コード「{encoding}」には対応していません（utf-8 または cp932）。"


def _refused(problems: list[str]) -> Refused:
    return render_template(
        "error.html", title="出力できません", message="　".join(problems) or "条件をご確認ください。"
    ), 400


def _unencodable(exc: Unencodable) -> Refused:
    """422: name the characters CP932 cannot hold and offer the same export in UTF-8."""
    chars = "、".join(f"「{char}」（U+{ord(char):04X}）" for char in exc.samples)
    args = {**request.args.to_dict(), **(request.view_args or {}), "encoding": "utf-8"}
    message = Markup(
        "Shift_JIS（CP932）で表せない文字があるため、Shift_JIS では出力できません: {}。"
        '<a href="{}">UTF-8（BOM付き）で出力</a>してください（Excel でもそのまま開けます）。'
        "Shift_JIS が必要な場合は、該当する文字を置き換えてから出力してください。"
    ).format(chars, url_for(request.endpoint or "", **args))
    return render_template("error.html", title="Shift_JIS で出力できない文字があります", message=message), 422


def _csv_or_refused(
    filename: str, header: Sequence[str], rows: Sequence[Sequence[object]], encoding: str, *, fallback: str
) -> Response | Refused:
    """A CSV of rows already in memory; in CP932 only when every character fits (checked before any byte)."""
    if encoding == "cp932":
        try:
            check_cp932(csv_lines(header, rows))
        except Unencodable as exc:
            return _unencodable(exc)
    return csv_response(filename, header, rows, encoding, fallback=fallback)

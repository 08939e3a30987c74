"""Importing a .csv or .xlsx of dispatches: every row or none, every bad row named.

The file is read and checked before the write lock is taken (importing.check_import): however large or
hostile it is, other people's logins and entries go on while it is read. Only the checked rows are handed
to ``write``.

A refused file shows its first PROBLEMS_ON_PAGE problems and how many more there are. The whole list is a
CSV download from the same form (the button 「エラー一覧をCSVで保存」), which checks the file again and
writes nothing: the server keeps nothing between requests, and a browser cannot post the same file again on
its own (no file input can be filled in by a page). `flask import-dispatches` prints every problem.
"""

from __future__ import annotations

from pathlib import PurePath
from typing import cast

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from .. import import_jobs
from ..errors import ImportRefused, Refusal
from ..exports import csv_response, xlsx_response
from ..forms import ImportForm
from ..import_template import HEADER, csv_rows, write_xlsx
from ..importing import RowError, check_import, write_import
from ..models import Disaster
from ..web import current_actor, disaster_or_404, write, writes
from .entries import form_status

bp = Blueprint("imports", __name__)

# Problems a refused file shows on the page; the rest are counted, and listed in the CSV.
PROBLEMS_ON_PAGE = 100
# The value of the form's second button: check the file and download its problems, write nothing.
LIST_PROBLEMS = "errors"


@bp.route("/disasters/<slug>/import", methods=["GET", "POST"])
@writes
def import_page(slug: str) -> Response | tuple[str, int]:
    disaster = disaster_or_404(slug)
    form = ImportForm()
    if not form.validate_on_submit():
        return _page(disaster, form, [], form_status(form))
    upload = form.file.data
    filename = upload.filename or ""
    data = upload.read()
    try:
        checked = check_import(disaster, data, filename, encoding=form.encoding.data)
    except ImportRefused as refusal:
        if request.form.get("action") == LIST_PROBLEMS:
            return _problems_csv(filename, _problems(refusal))
        return _page(disaster, form, _problems(refusal), refusal.status)
    if request.form.get("action") == LIST_PROBLEMS:
        flash("エラーはありません。「取り込む」で登録できます（まだ何も登録していません）。", "success")
        return _page(disaster, form, [], 200)
    if len(checked.drafts) > import_jobs.BACKGROUND_ROWS:
        # Written in the background, its progress on a page of its own (import_jobs).
        token = import_jobs.start(
            disaster,
            data,
            filename,
            form.encoding.data,
            current_actor(),
            form.reason.data or "",
            len(checked.drafts),
        )
        return redirect(url_for("imports.import_progress", slug=slug, token=token))
    try:
        result = write(lambda: write_import(checked, current_actor(), form.reason.data or ""))
    except ImportRefused as refusal:
        return _page(disaster, form, _problems(refusal), refusal.status)
    except Refusal as refusal:
        # Busy: the write lock stayed taken; nothing was written.
        flash(str(refusal), "error")
        return _page(disaster, form, [], refusal.status)
    flash(f"{len(result.entry_ids):,}行を取り込みました（延べ{result.person_days:,}人）。", "success")
    # The list of what was just imported, and nothing else.
    return redirect(url_for("entries.entry_list", slug=slug, imported=result.record_id))


@bp.get("/disasters/<slug>/import/template.csv")
def import_template_csv(slug: str) -> Response:
    """The importer's header and one example row, UTF-8 with BOM (Excel opens it as it is)."""
    disaster = disaster_or_404(slug)
    return csv_response(
        "取り込みテンプレート.csv", HEADER, csv_rows(disaster), fallback="import-template.csv"
    )


@bp.get("/disasters/<slug>/import/template.xlsx")
def import_template_xlsx(slug: str) -> Response:
    """The same as .xlsx, with drop-down lists of the disaster's operations and the duties."""
    disaster = disaster_or_404(slug)
    return xlsx_response(
        "取り込みテンプレート.xlsx", "import-template.xlsx", lambda file: write_xlsx(file, disaster)
    )


# Seconds between two refreshes of the progress page.
REFRESH_SECONDS = 2


@bp.get("/disasters/<slug>/import/jobs/<token>")
def import_progress(slug: str, token: str) -> Response | tuple[str, int]:
    """A background import's progress, refreshing itself; the list of its rows once it is committed."""
    disaster = disaster_or_404(slug)
    progress = import_jobs.load(token)
    if progress is None or progress.owner != current_actor().name:
        abort(404)
    if progress.state == "done":
        flash(f"{progress.total:,}行を取り込みました（延べ{progress.person_days:,}人）。", "success")
        return redirect(url_for("entries.entry_list", slug=slug, imported=progress.record_id))
    status = 422 if progress.state == "refused" else 200
    return render_template(
        "import_progress.html", disaster=disaster, progress=progress, refresh_seconds=REFRESH_SECONDS
    ), status


def _problems(refusal: ImportRefused) -> list[RowError]:
    # The importer's refusals list RowErrors (line and message), which the CSV gives as two columns.
    return cast(list[RowError], refusal.errors)


def _page(disaster: Disaster, form: ImportForm, errors: list[RowError], status: int) -> tuple[str, int]:
    return render_template(
        "import.html",
        disaster=disaster,
        form=form,
        errors=errors[:PROBLEMS_ON_PAGE],
        more=max(len(errors) - PROBLEMS_ON_PAGE, 0),
        total=len(errors),
        list_problems=LIST_PROBLEMS,
    ), status


def _problems_csv(filename: str, errors: list[RowError]) -> Response:
    stem = PurePath(filename).stem or "import"
    return csv_response(
        f"{stem}_エラー一覧.csv",
        ("行", "エラー"),
        ((error.line, error.message) for error in errors),
        fallback="import-errors.csv",
    )

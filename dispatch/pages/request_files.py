"""Requests in and out of files: the import page (every row or none, every bad line named), and the CSV and
Excel exports of the requests and of the fill."""

from __future__ import annotations

from datetime import date
from typing import cast

from flask import Blueprint, flash, redirect, render_template, url_for
from flask_login import current_user
from werkzeug.wrappers import Response

from .. import clock
from ..access import visible_to
from ..errors import ImportRefused, Refusal
from ..exports import csv_response, xlsx_response
from ..fill import fill_on
from ..forms import ImportForm
from ..models import Disaster
from ..request_exports import FILL_HEADER, fill_rows, fill_title, request_rows, write_table_workbook
from ..request_import import HEADER, check_requests, write_requests
from ..sheets import RowError
from ..web import QueryArgs, current_actor, disaster_or_404, write, writes
from .entries import form_status
from .imports import PROBLEMS_ON_PAGE

bp = Blueprint("request_files", __name__)


@bp.route("/disasters/<slug>/requests/import", methods=["GET", "POST"])
@writes
def import_requests_page(slug: str) -> Response | tuple[str, int]:
    disaster = disaster_or_404(slug)
    form = ImportForm()
    if not form.validate_on_submit():
        return _page(disaster, form, [], form_status(form))
    upload = form.file.data
    try:
        checked = check_requests(disaster, upload.read(), upload.filename or "", encoding=form.encoding.data)
        made = write(lambda: len(write_requests(disaster, checked, current_actor())))
    except ImportRefused as refusal:
        return _page(disaster, form, cast(list[RowError], refusal.errors), refusal.status)
    except Refusal as refusal:
        flash(str(refusal), "error")
        return _page(disaster, form, [], refusal.status)
    flash(f"要請{made:,}件を取り込みました。", "success")
    return redirect(url_for("requests.request_list_page", slug=slug))


def _page(disaster: Disaster, form: ImportForm, errors: list[RowError], status: int) -> tuple[str, int]:
    return render_template(
        "requests/import.html",
        disaster=disaster,
        form=form,
        errors=errors[:PROBLEMS_ON_PAGE],
        more=max(len(errors) - PROBLEMS_ON_PAGE, 0),
        total=len(errors),
        header=HEADER,
    ), status


@bp.get("/disasters/<slug>/requests.csv")
def requests_csv(slug: str) -> Response:
    disaster = disaster_or_404(slug)
    rows = request_rows(disaster, visible_to(current_user))
    return csv_response(f"要請_{disaster.slug}.csv", HEADER, rows, fallback="requests.csv")


@bp.get("/disasters/<slug>/requests.xlsx")
def requests_xlsx(slug: str) -> Response:
    disaster = disaster_or_404(slug)
    rows = request_rows(disaster, visible_to(current_user))
    title = f"{disaster.name}　要請一覧"
    return xlsx_response(
        f"要請_{disaster.slug}.xlsx",
        "requests.xlsx",
        lambda target: write_table_workbook(target, title, "要請", HEADER, rows),
    )


@bp.get("/disasters/<slug>/fill.csv")
def fill_csv(slug: str) -> Response | tuple[str, int]:
    disaster = disaster_or_404(slug)
    day, error = _day()
    if error:
        return render_template("error.html", title="日付を確認してください", message=error), 400
    rows = fill_rows(fill_on(disaster, day, visible_to(current_user)))
    return csv_response(f"充足_{disaster.slug}_{day.isoformat()}.csv", FILL_HEADER, rows, fallback="fill.csv")


@bp.get("/disasters/<slug>/fill.xlsx")
def fill_xlsx(slug: str) -> Response | tuple[str, int]:
    disaster = disaster_or_404(slug)
    day, error = _day()
    if error:
        return render_template("error.html", title="日付を確認してください", message=error), 400
    rows = fill_rows(fill_on(disaster, day, visible_to(current_user)))
    title = fill_title(disaster, day)
    return xlsx_response(
        f"充足_{disaster.slug}_{day.isoformat()}.xlsx",
        "fill.xlsx",
        lambda target: write_table_workbook(target, title, "充足状況", FILL_HEADER, rows),
    )


def _day() -> tuple[date, str | None]:
    args = QueryArgs()
    day = args.date("date")
    return day or clock.today(), args.errors.get("date")

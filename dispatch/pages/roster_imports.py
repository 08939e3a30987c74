"""Importing people and teams (.csv/.xlsx): every row or none, every bad line named; and the templates.

Read and checked before the write lock (roster_import.check_roster), written under it."""

from __future__ import annotations

from typing import cast

from flask import Blueprint, flash, redirect, render_template, url_for
from werkzeug.wrappers import Response

from ..errors import ImportRefused, Refusal
from ..exports import csv_response, xlsx_response
from ..forms import ImportForm
from ..models import Disaster
from ..roster_import import check_roster
from ..roster_template import HEADER, csv_rows, write_xlsx
from ..roster_writing import write_roster
from ..sheets import RowError
from ..web import current_actor, disaster_or_404, write, writes
from .entries import form_status

bp = Blueprint("roster_imports", __name__)

PROBLEMS_ON_PAGE = 100


@bp.route("/disasters/<slug>/roster/import", methods=["GET", "POST"])
@writes
def import_roster(slug: str) -> Response | tuple[str, int]:
    disaster = disaster_or_404(slug)
    form = ImportForm()
    if not form.validate_on_submit():
        return _page(disaster, form, [], form_status(form))
    upload = form.file.data
    try:
        checked = check_roster(disaster, upload.read(), upload.filename or "", form.encoding.data)
        result = write(lambda: write_roster(disaster, checked, current_actor(), form.reason.data or ""))
    except ImportRefused as refusal:
        return _page(disaster, form, cast(list[RowError], refusal.errors), refusal.status)
    except Refusal as refusal:
        flash(str(refusal), "error")
        return _page(disaster, form, [], refusal.status)
    flash(
        f"{len(checked.rows):,}行を取り込みました（新しい職員{result.people:,}人、新しい班{result.teams:,}）。"
        "派遣の人数も名簿に合わせました。",
        "success",
    )
    return redirect(url_for("roster.teams", slug=slug))


@bp.get("/disasters/<slug>/roster/template.csv")
def import_template_csv(slug: str) -> Response:
    """The roster importer's header and an example row of this disaster, UTF-8 with BOM."""
    disaster = disaster_or_404(slug)
    return csv_response(
        "名簿取り込みテンプレート.csv", HEADER, csv_rows(disaster), fallback="roster-template.csv"
    )


@bp.get("/disasters/<slug>/roster/template.xlsx")
def import_template_xlsx(slug: str) -> Response:
    """The same as .xlsx, with drop-down lists of the staff kinds, operations, duties, team types and
    travel days."""
    disaster = disaster_or_404(slug)
    return xlsx_response(
        "名簿取り込みテンプレート.xlsx", "roster-template.xlsx", lambda file: write_xlsx(file, disaster)
    )


def _page(disaster: Disaster, form: ImportForm, errors: list[RowError], status: int) -> tuple[str, int]:
    return render_template(
        "roster/import.html", disaster=disaster, form=form, errors=errors[:PROBLEMS_ON_PAGE],
        more=max(len(errors) - PROBLEMS_ON_PAGE, 0), total=len(errors),
    ), status  # fmt: skip

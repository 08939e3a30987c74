"""Importing a .csv or .xlsx of dispatches: every row or none, every bad row named."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, url_for
from werkzeug.wrappers import Response

from ..errors import ImportRefused
from ..forms import ImportForm
from ..importing import ImportResult, import_dispatches
from ..web import current_actor, disaster_or_404, write, writes
from .entries import form_status

bp = Blueprint("imports", __name__)


@bp.route("/disasters/<slug>/import", methods=["GET", "POST"])
@writes
def import_page(slug: str) -> Response | tuple[str, int]:
    disaster = disaster_or_404(slug)
    status = 200
    form = ImportForm()
    errors: list[object] = []
    if form.validate_on_submit():
        upload = form.file.data

        def run() -> ImportResult:
            return import_dispatches(
                disaster,
                upload.read(),
                upload.filename or "",
                encoding=form.encoding.data,
                actor=current_actor(),
                reason=form.reason.data or "",
            )

        try:
            result = write(run)
        except ImportRefused as refusal:
            status = refusal.status
            errors = list(refusal.errors)
        else:
            flash(f"{len(result.entry_ids):,}行を取り込みました（延べ{result.person_days:,}人）。", "success")
            return redirect(url_for("entries.entry_list", slug=slug))
    return render_template("import.html", disaster=disaster, form=form, errors=errors), form_status(
        form, status
    )

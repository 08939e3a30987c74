"""Disasters and their operations from the browser (admin and reviewer): register a disaster, change its name,
start and affected prefectures, close and reopen it; add, rename and reorder operations, end one on a date
and reopen it, record where its staff work in each destination (配属先). Every change is audited by the use
cases (catalog.py); a refusal is shown next to the form it came from."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, url_for
from werkzeug.wrappers import Response

from .. import catalog, clock
from ..catalog_forms import (
    ButtonForm,
    DisasterForm,
    EndForm,
    MoveForm,
    NewDisasterForm,
    OperationForm,
    RenameForm,
    SectionForm,
)
from ..errors import Refusal
from ..forms import DateField, JapaneseForm, organisation_datalist
from ..models import Disaster, Operation
from ..web import current_actor, disaster_or_404, write, writes

bp = Blueprint("disasters", __name__)

# A page answered with a form's refusal: the page and its status.
Answer = Response | tuple[str, int]


@bp.route("/disasters/new", methods=["GET", "POST"])
@writes
def new_disaster() -> Response | str | tuple[str, int]:
    form = NewDisasterForm()
    if form.validate_on_submit():
        try:
            disaster = write(
                lambda: catalog.create_disaster(
                    form.slug.data or "",
                    form.name.data or "",
                    _date(form.start_date),
                    current_actor(),
                    form.selected_prefectures(),
                )
            )
        except Refusal as exc:
            form.slug.errors = [str(exc)]
            return render_template("disasters/new.html", form=form), exc.status
        flash(f"災害「{disaster.name}」を登録しました。続けて派遣区分を追加してください。", "success")
        return redirect(url_for(".settings", slug=disaster.slug))
    return render_template("disasters/new.html", form=form)


@bp.get("/disasters/<slug>/settings")
def settings(slug: str) -> str:
    return _page(disaster_or_404(slug))


@bp.post("/disasters/<slug>/settings")
@writes
def update_disaster(slug: str) -> Answer:
    disaster = disaster_or_404(slug)
    form = DisasterForm()
    return _act(
        disaster,
        form,
        "disaster",
        lambda: catalog.update_disaster(
            disaster,
            form.name.data or "",
            _date(form.start_date),
            form.selected_prefectures(),
            current_actor(),
        ),
        "災害の設定を保存しました。",
        disaster_form=form,
    )


@bp.post("/disasters/<slug>/close")
@writes
def close_disaster(slug: str) -> Answer:
    disaster = disaster_or_404(slug)
    form = EndForm(prefix="close")
    return _act(
        disaster,
        form,
        "close",
        lambda: catalog.close_disaster(disaster, _date(form.on), current_actor()),
        "災害を終了しました。派遣の登録と日報の配信は、再開するまで止まります。",
    )


@bp.post("/disasters/<slug>/reopen")
@writes
def reopen_disaster(slug: str) -> Answer:
    disaster = disaster_or_404(slug)
    return _act(
        disaster,
        ButtonForm(),
        "close",
        lambda: catalog.reopen_disaster(disaster, current_actor()),
        "災害を再開しました。",
    )


@bp.post("/disasters/<slug>/operations")
@writes
def add_operation(slug: str) -> Answer:
    disaster = disaster_or_404(slug)
    form = OperationForm(prefix="new")
    return _act(
        disaster,
        form,
        "add-operation",
        lambda: catalog.create_operation(
            disaster, form.code.data or "", form.name.data or "", current_actor()
        ),
        "派遣区分を追加しました。",
        add_form=form,
    )


@bp.post("/disasters/<slug>/operations/<code>/rename")
@writes
def rename_operation(slug: str, code: str) -> Answer:
    disaster, operation = _operation(slug, code)
    form = RenameForm()
    return _act(
        disaster,
        form,
        f"op-{code}",
        lambda: catalog.rename_operation(operation, form.name.data or "", current_actor()),
        "派遣区分の名称を変更しました。",
    )


@bp.post("/disasters/<slug>/operations/<code>/move")
@writes
def move_operation(slug: str, code: str) -> Answer:
    disaster, operation = _operation(slug, code)
    form = MoveForm()
    return _act(
        disaster,
        form,
        f"op-{code}",
        lambda: catalog.move_operation(operation, int(form.steps.data or 0), current_actor()),
        "派遣区分の順番を変更しました。",
    )


@bp.post("/disasters/<slug>/operations/<code>/end")
@writes
def end_operation(slug: str, code: str) -> Answer:
    disaster, operation = _operation(slug, code)
    form = EndForm()
    return _act(
        disaster,
        form,
        f"op-{code}",
        lambda: catalog.end_operation(operation, _date(form.on), current_actor()),
        f"「{operation.name}」を終了しました。",
    )


@bp.post("/disasters/<slug>/operations/<code>/reopen")
@writes
def reopen_operation(slug: str, code: str) -> Answer:
    disaster, operation = _operation(slug, code)
    return _act(
        disaster,
        ButtonForm(),
        f"op-{code}",
        lambda: catalog.reopen_operation(operation, current_actor()),
        f"「{operation.name}」を再開しました（継続中）。",
    )


@bp.post("/disasters/<slug>/operations/<code>/sections")
@writes
def set_section(slug: str, code: str) -> Answer:
    disaster, operation = _operation(slug, code)
    form = SectionForm()

    def use_case() -> object:
        assert form.destination.organisation is not None
        return catalog.set_receiving_section(
            operation, form.destination.organisation, form.name.data or "", current_actor()
        )

    return _act(disaster, form, f"op-{code}", use_case, "配属先を保存しました。")


def _act(
    disaster: Disaster,
    form: JapaneseForm,
    where: str,
    use_case: Callable[[], object],
    done: str,
    **forms: Any,
) -> Answer:
    """Validate the form, run the use case under the write lock, and go back to the settings page; or show
    the page with what went wrong next to the form ``where`` names (422)."""
    if not form.validate_on_submit():
        messages = [error for errors in form.errors.values() for error in errors]
        return _page(disaster, {where: "、".join(map(str, messages))}, **forms), 422
    slug = disaster.slug
    try:
        write(use_case)
    except Refusal as exc:
        return _page(disaster, {where: str(exc)}, **forms), exc.status
    flash(done, "success")
    return redirect(url_for(".settings", slug=slug) + f"#{where}")


def _page(disaster: Disaster, errors: dict[str, str] | None = None, **forms: Any) -> str:
    disaster_form = forms.get("disaster_form") or DisasterForm(
        formdata=None,
        name=disaster.name,
        start_date=disaster.start_date,
        prefectures=[p.code for p in disaster.prefectures],
    )
    return render_template(
        "disasters/settings.html",
        disaster=disaster,
        errors=errors or {},
        disaster_form=disaster_form,
        add_form=forms.get("add_form") or OperationForm(prefix="new", formdata=None),
        sections={
            op.id: sorted(op.receiving_sections, key=lambda s: s.destination.code)
            for op in disaster.operations
        },
        today=clock.today(),
        organisations=organisation_datalist(),
    )


def _operation(slug: str, code: str) -> tuple[Disaster, Operation]:
    disaster = disaster_or_404(slug)
    operation = next((op for op in disaster.operations if op.code == code), None)
    if operation is None:
        abort(404)
    return disaster, operation


def _date(field: DateField) -> date:
    assert field.date is not None  # the form was valid: the field is required
    return field.date

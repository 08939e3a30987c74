"""団体マスタ (admin): search every organisation by code, name or kana; add another body (一部事務組合, 消防本部,
総務省 …) under the next X code, rename it, deactivate or activate it. Local governments are shown, never
edited here: the 全国地方公共団体コード list loaded by `flask init-db` decides them (organisations.py)."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from sqlalchemy import select
from werkzeug.wrappers import Response

from ..catalog_forms import BodyForm, ButtonForm, NewBodyForm, SearchForm
from ..errors import Refusal
from ..extensions import db
from ..models import Organisation, OrgKind
from ..organisations import SEARCH_LIMIT, add_body, rename_body, search, set_active
from ..web import current_actor, write, writes

bp = Blueprint("organisations", __name__, url_prefix="/admin/organisations")


@bp.get("")
def organisation_list() -> str:
    return _list(NewBodyForm(formdata=None))


@bp.post("")
@writes
def add_organisation() -> Response | tuple[str, int]:
    form = NewBodyForm()
    if not form.validate_on_submit():
        return _list(form), 422
    try:
        org = write(
            lambda: add_body(
                form.name.data or "",
                current_actor(),
                kana=form.kana.data or "",
                prefecture=form.selected_prefecture(),
            )
        )
    except Refusal as exc:
        form.name.errors = [str(exc)]
        return _list(form), exc.status
    flash(f"{org.name}を団体コード {org.code} で登録しました。", "success")
    return redirect(url_for(".organisation_page", code=org.code))


@bp.route("/<code>", methods=["GET", "POST"])
@writes
def organisation_page(code: str) -> Response | str | tuple[str, int]:
    org = _organisation_or_404(code)
    form = BodyForm(formdata=None, name=org.name, kana=org.kana) if request.method == "GET" else BodyForm()
    if request.method == "POST" and form.validate_on_submit():
        try:
            write(lambda: rename_body(org, form.name.data or "", current_actor(), kana=form.kana.data or ""))
        except Refusal as exc:
            form.name.errors = [str(exc)]
            return _page(org, form), exc.status
        flash("団体名を変更しました。", "success")
        return redirect(url_for(".organisation_page", code=code))
    return _page(org, form) if not form.errors else (_page(org, form), 422)


@bp.post("/<code>/active")
@writes
def toggle_active(code: str) -> Response | tuple[str, int]:
    org = _organisation_or_404(code)
    if not ButtonForm().validate_on_submit():
        abort(400)
    active = not org.active
    try:
        write(lambda: set_active(org, active, current_actor()))
    except Refusal as exc:
        return _page(org, BodyForm(formdata=None, name=org.name, kana=org.kana), str(exc)), exc.status
    flash(f"{org.name}を{'有効' if active else '無効'}にしました。", "success")
    return redirect(url_for(".organisation_page", code=code))


def _list(form: NewBodyForm) -> str:
    query = SearchForm(request.args)
    valid = query.validate()
    found = search((query.q.data or "") if valid else "", kind=(query.kind.data or "") if valid else "")
    return render_template(
        "organisations/list.html", query=query, found=found, limit=SEARCH_LIMIT, form=form, kinds=OrgKind
    )


def _page(org: Organisation, form: BodyForm, problem: str = "") -> str:
    return render_template(
        "organisations/page.html",
        org=org,
        form=form,
        problem=problem,
        editable=org.kind == OrgKind.OTHER.value,
        wards=list(
            db.session.scalars(
                select(Organisation).where(Organisation.parent_id == org.id).order_by(Organisation.code)
            )
        ),
    )


def _organisation_or_404(code: str) -> Organisation:
    org = db.session.scalar(select(Organisation).where(Organisation.code == code.upper()))
    if org is None:
        abort(404)
    return org

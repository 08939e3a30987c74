"""対口支援: which counterpart body supports which affected municipality, by stage, as a list and a matrix."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, url_for
from flask_login import current_user
from sqlalchemy import or_, select
from werkzeug.wrappers import Response

from ..access import visible_to
from ..errors import Refusal
from ..extensions import db
from ..forms import organisation_datalist
from ..models import Disaster, Role
from ..request_forms import CounterpartForm
from ..request_models import CounterpartAssignment
from ..requests import add_counterpart
from ..web import current_actor, disaster_or_404, write, writes

bp = Blueprint("counterparts", __name__)


def _pairs(disaster: Disaster) -> list[CounterpartAssignment]:
    stmt = select(CounterpartAssignment).where(CounterpartAssignment.disaster_id == disaster.id)
    own = visible_to(current_user)
    if own is not None:
        stmt = stmt.where(
            or_(CounterpartAssignment.supporter_id == own, CounterpartAssignment.supported_id == own)
        )
    pairs = list(db.session.scalars(stmt))
    pairs.sort(key=lambda p: (p.supported.code, p.stage, p.supporter.code))
    return pairs


def _render(disaster: Disaster, form: CounterpartForm) -> str:
    pairs = _pairs(disaster)
    supported = sorted({p.supported for p in pairs}, key=lambda o: o.code)
    supporters = sorted({p.supporter for p in pairs}, key=lambda o: o.code)
    # The matrix: affected municipality (row) × counterpart body (column) → its stages.
    cells: dict[tuple[int, int], list[str]] = {}
    for pair in pairs:
        cells.setdefault((pair.supported_id, pair.supporter_id), []).append(pair.stage or "—")
    return render_template(
        "requests/counterparts.html",
        disaster=disaster,
        pairs=pairs,
        supported=supported,
        supporters=supporters,
        cells=cells,
        form=form,
        may_edit=current_user.user_role in (Role.ADMIN, Role.HQ),
        organisations=organisation_datalist(),
    )


@bp.get("/disasters/<slug>/counterparts")
def counterpart_list(slug: str) -> str:
    return _render(disaster_or_404(slug), CounterpartForm(formdata=None))


@bp.post("/disasters/<slug>/counterparts")
@writes
def add_counterpart_page(slug: str) -> Response | tuple[str, int]:
    disaster = disaster_or_404(slug)
    form = CounterpartForm()
    if not form.validate_on_submit():
        return _render(disaster, form), 422
    assert form.supporter.organisation and form.supported.organisation and form.decided_on.date
    supporter, supported, decided = (
        form.supporter.organisation,
        form.supported.organisation,
        form.decided_on.date,
    )
    try:
        write(
            lambda: add_counterpart(
                disaster,
                supporter,
                supported,
                current_actor(),
                stage=form.stage.data or "",
                decided_on=decided,
                note=form.note.data or "",
            )
        )
    except Refusal as refusal:
        form.supporter.errors = [str(refusal)]
        return _render(disaster, form), refusal.status
    flash(f"対口支援 {supporter.name}→{supported.name} を登録しました。", "success")
    return redirect(url_for(".counterpart_list", slug=slug))

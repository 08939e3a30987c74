"""Requests (要請): the list, a request's page with its revisions and assignments, and their forms.

HQ enters and edits requests and assignments; reviewers read them and close them (終了); a municipality sees
the requests it made and those it covers, and may enter its own body's requests.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from werkzeug.wrappers import Response

from .. import clock
from ..access import visible_to
from ..errors import Refusal
from ..extensions import db
from ..fill import assigned_per_request, linked_days, request_fill, unassigned_days
from ..forms import organisation_datalist
from ..models import Disaster, Role
from ..request_forms import AssignmentForm, EditRequestForm, RequestForm, ReviseForm, StateForm, WithdrawForm
from ..request_models import RequestState, StaffRequest
from ..requests import (
    add_assignment,
    create_request,
    may_see,
    persons_on,
    request_list,
    revise_request,
    set_state,
    state_label,
    update_request,
    withdraw_request,
)
from ..web import QueryArgs, current_actor, disaster_or_404, write, writes

bp = Blueprint("requests", __name__)


def request_or_404(disaster: Disaster, request_id: int) -> StaffRequest:
    found = db.session.get(StaffRequest, request_id)
    if found is None or found.disaster_id != disaster.id or not may_see(found, visible_to(current_user)):
        abort(404)
    return found


@bp.get("/disasters/<slug>/requests")
def request_list_page(slug: str) -> tuple[str, int]:
    disaster = disaster_or_404(slug)
    args = QueryArgs()
    day = args.date("date") or clock.today()
    requests = request_list(disaster, visible_to(current_user))
    # Each request's own figures: those linked to it where several share a destination × duty.
    on_duty = {r.request_id: r.on_duty for r in request_fill(disaster, day)}
    assigned = assigned_per_request(disaster, day)
    rows = []
    for item in requests:
        asked, here, covered = persons_on(item, day), on_duty.get(item.id, 0), assigned.get(item.id, 0)
        rows.append((item, asked, covered, here, state_label(item, asked, here, covered)))
    return render_template(
        "requests/list.html", disaster=disaster, day=day, rows=rows, errors=args.errors
    ), 400 if args.errors else 200


@bp.route("/disasters/<slug>/requests/new", methods=["GET", "POST"])
@writes
def new_request(slug: str) -> Response | tuple[str, int]:
    disaster = disaster_or_404(slug)
    own = visible_to(current_user)
    form = RequestForm(received_on=clock.today()) if request.method == "GET" else RequestForm()
    if own is not None and request.method == "GET":
        form.requester.data = current_user.organisation.label
    status = 200
    if form.validate_on_submit():
        draft = form.draft()
        if own is not None and draft.requester.id != own:
            form.requester.errors = ["市町村の利用者は自団体の要請だけを登録できます。"]
            status = 403
        else:
            try:
                made = write(lambda: create_request(disaster, draft, current_actor()))
            except Refusal as refusal:
                form.number.errors = [str(refusal)]
                status = refusal.status
            else:
                flash(f"要請{made.number}を登録しました。", "success")
                return redirect(url_for(".request_page", slug=slug, request_id=made.id))
    elif request.method == "POST":
        status = 422
    return render_template(
        "requests/new.html", disaster=disaster, form=form, organisations=organisation_datalist()
    ), status


@bp.get("/disasters/<slug>/requests/<int:request_id>")
def request_page(slug: str, request_id: int) -> str:
    disaster = disaster_or_404(slug)
    item = request_or_404(disaster, request_id)
    return _page(disaster, item)


def _page(disaster: Disaster, item: StaffRequest, **forms: Any) -> str:
    today = clock.today()
    start = item.revisions[0].date_from if item.revisions else today
    defaults: dict[str, Any] = {
        "revise": ReviseForm(formdata=None, date_from=max(today, start), date_to=item.revisions[-1].date_to),
        "withdraw": WithdrawForm(formdata=None, on=today),
        "state": StateForm(formdata=None, state=item.state),
        "assign": AssignmentForm(
            formdata=None, decided_on=today, date_from=start, date_to=item.revisions[-1].date_to
        ),
        "edit": EditRequestForm(formdata=None, obj=item),
    }
    defaults.update(forms)
    return render_template(
        "requests/page.html",
        disaster=disaster,
        item=item,
        today=today,
        requested_today=persons_on(item, today),
        linked=linked_days(item, today),
        unassigned=unassigned_days(item),
        may_link=not item.long_term
        and (
            current_user.user_role in (Role.ADMIN, Role.HQ)
            or (current_user.user_role is Role.MUNICIPALITY and visible_to(current_user) == item.requester_id)
        ),
        persons_on=persons_on,
        organisations=organisation_datalist(),
        may_edit=current_user.user_role in (Role.ADMIN, Role.HQ),
        may_close=current_user.user_role in (Role.ADMIN, Role.REVIEWER),
        **defaults,
    )


def _posted(slug: str, request_id: int) -> tuple[Disaster, StaffRequest]:
    disaster = disaster_or_404(slug)
    return disaster, request_or_404(disaster, request_id)


def _done(slug: str, item: StaffRequest, message: str) -> Response:
    flash(message, "success")
    return redirect(url_for(".request_page", slug=slug, request_id=item.id))


@bp.post("/disasters/<slug>/requests/<int:request_id>/edit")
@writes
def edit_request(slug: str, request_id: int) -> Response | tuple[str, int]:
    disaster, item = _posted(slug, request_id)
    form = EditRequestForm()
    if not form.validate_on_submit():
        return _page(disaster, item, edit=form), 422
    fields = {
        name: form[name].data or ""
        for name in ("job_type", "place", "reason", "conditions", "lodging", "note")
    }
    received: date | None = form.received_on.date
    try:
        write(lambda: update_request(item, current_actor(), received_on=received, **fields))
    except Refusal as refusal:
        form.job_type.errors = [str(refusal)]
        return _page(disaster, item, edit=form), refusal.status
    return _done(slug, item, "要請を変更しました。")


@bp.post("/disasters/<slug>/requests/<int:request_id>/revise")
@writes
def revise_request_page(slug: str, request_id: int) -> Response | tuple[str, int]:
    disaster, item = _posted(slug, request_id)
    form = ReviseForm()
    if not (form.validate_on_submit() and form.check_figures(item.long_term)):
        return _page(disaster, item, revise=form), 422
    assert form.date_from.date and form.date_to.date
    start, end = form.date_from.date, form.date_to.date
    try:
        write(
            lambda: revise_request(
                item,
                current_actor(),
                persons=form.persons.data or 0,
                date_from=start,
                date_to=end,
                fiscal_year=form.fiscal_year.data,
                note=form.note.data or "",
            )
        )
    except Refusal as refusal:
        form.date_from.errors = [str(refusal)]
        return _page(disaster, item, revise=form), refusal.status
    return _done(slug, item, "要請を改訂しました。")


@bp.post("/disasters/<slug>/requests/<int:request_id>/withdraw")
@writes
def withdraw_request_page(slug: str, request_id: int) -> Response | tuple[str, int]:
    disaster, item = _posted(slug, request_id)
    form = WithdrawForm()
    if not form.validate_on_submit():
        return _page(disaster, item, withdraw=form), 422
    assert form.on.date
    on = form.on.date
    try:
        write(lambda: withdraw_request(item, on, current_actor(), form.reason.data or ""))
    except Refusal as refusal:
        form.on.errors = [str(refusal)]
        return _page(disaster, item, withdraw=form), refusal.status
    return _done(slug, item, "要請を取下げにしました。")


@bp.post("/disasters/<slug>/requests/<int:request_id>/state")
@writes
def request_state(slug: str, request_id: int) -> Response | tuple[str, int]:
    disaster, item = _posted(slug, request_id)
    form = StateForm()
    if not form.validate_on_submit():
        return _page(disaster, item, state=form), 422
    state = RequestState(form.state.data)
    if state is RequestState.CLOSED and current_user.user_role not in (Role.ADMIN, Role.REVIEWER):
        abort(403)
    try:
        write(lambda: set_state(item, state, current_actor()))
    except Refusal as refusal:
        form.state.errors = [str(refusal)]
        return _page(disaster, item, state=form), refusal.status
    return _done(slug, item, "状況を変更しました。")


@bp.post("/disasters/<slug>/requests/<int:request_id>/assignments")
@writes
def add_assignment_page(slug: str, request_id: int) -> Response | tuple[str, int]:
    disaster, item = _posted(slug, request_id)
    form = AssignmentForm()
    if not form.validate_on_submit():
        return _page(disaster, item, assign=form), 422
    assert form.sender.organisation and form.date_from.date and form.date_to.date and form.decided_on.date
    sender, start, end, decided = (
        form.sender.organisation,
        form.date_from.date,
        form.date_to.date,
        form.decided_on.date,
    )
    try:
        write(
            lambda: add_assignment(
                item,
                sender,
                current_actor(),
                persons=form.persons.data or 0,
                date_from=start,
                date_to=end,
                decided_on=decided,
                note=form.note.data or "",
            )
        )
    except Refusal as refusal:
        form.sender.errors = [str(refusal)]
        return _page(disaster, item, assign=form), refusal.status
    return _done(slug, item, f"{sender.name}の応援を登録しました。")

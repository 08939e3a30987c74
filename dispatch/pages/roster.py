"""People and teams: the roster's lists and forms. Names are shown to those who need them (field.py):
everyone on the list for the administrator and HQ, a municipality's own and received people, counts
only for reviewers. Every page that shows people logs the read (roster.log_read)."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import func, select
from werkzeug.wrappers import Response

from ..errors import Refusal
from ..extensions import db
from ..field import people_condition, person_visible, sees_names, team_visible, teams_of
from ..forms import organisation_datalist
from ..models import Disaster, Organisation, Role
from ..roster import (
    add_person,
    add_team,
    drop_member,
    erase_person,
    log_read,
    remove_person,
    set_member,
    set_travel_days_count,
    update_person,
    update_team,
)
from ..roster_forms import MemberForm, PersonForm, TeamForm
from ..roster_models import Person, Stint, Team
from ..web import QueryArgs, current_actor, disaster_or_404, write, writes
from .entries import form_status

bp = Blueprint("roster", __name__)

PAGE_SIZE = 200


def _person_or_404(disaster: Disaster, person_id: int) -> Person:
    person = db.session.get(Person, person_id)
    if person is None or person.disaster_id != disaster.id or not person_visible(current_user, person):
        abort(404)
    return person


def _team_or_404(disaster: Disaster, team_id: int) -> Team:
    team = db.session.get(Team, team_id)
    if team is None or team.disaster_id != disaster.id or not team_visible(current_user, team):
        abort(404)
    return team


@bp.get("/disasters/<slug>/people")
def people(slug: str) -> str:
    disaster = disaster_or_404(slug)
    args = QueryArgs()
    page = args.page()
    conditions = [Person.disaster_id == disaster.id, Person.removed.is_(False)]
    visible = people_condition(current_user)
    if visible is not None:
        conditions.append(visible)
    query = args.text("q")
    if query:
        conditions.append(Person.name.contains(query) | Person.kana.contains(query))
    stmt = select(Person).where(*conditions)
    counts = db.session.execute(
        select(Organisation.code, Organisation.name, func.count())
        .select_from(Person)
        .join(Organisation, Organisation.id == Person.sender_id)
        .where(*conditions)
        .group_by(Organisation.code, Organisation.name)
        .order_by(Organisation.code)
    ).all()
    shown: list[Person] = []
    if sees_names(current_user):
        ordered = stmt.order_by(Person.sender_id, Person.kana, Person.id)
        shown = list(db.session.scalars(ordered.offset((page - 1) * PAGE_SIZE).limit(PAGE_SIZE)))
        log_read(current_actor(), "people", disaster, len(shown))
    total = sum(n for _, _, n in counts)
    return render_template(
        "roster/people.html", disaster=disaster, people=shown, counts=counts, total=total, page=page,
        pages=max(1, -(-total // PAGE_SIZE)), q=query or "",
    )  # fmt: skip


@bp.get("/disasters/<slug>/people/<int:person_id>")
def person_page(slug: str, person_id: int) -> str:
    disaster = disaster_or_404(slug)
    person = _person_or_404(disaster, person_id)
    log_read(current_actor(), f"person:{person.id}", disaster, 1)
    stints = db.session.scalars(select(Stint).where(Stint.person_id == person.id).order_by(Stint.start_date))
    return render_template("roster/person.html", disaster=disaster, person=person, stints=list(stints))


@bp.route("/disasters/<slug>/people/new", methods=["GET", "POST"])
@writes
def new_person(slug: str) -> Response | tuple[str, int]:
    disaster = disaster_or_404(slug)
    form = PersonForm()
    status = 200
    if form.validate_on_submit():
        try:
            person = write(lambda: add_person(disaster, form.fields(), current_actor()))
        except Refusal as refusal:
            flash(str(refusal), "error")
            status = refusal.status
        else:
            flash(f"名簿に登録しました: {person.name}", "success")
            return redirect(url_for(".new_person", slug=slug))
    return render_template(
        "roster/person_form.html",
        disaster=disaster,
        form=form,
        person=None,
        organisations=organisation_datalist(),
    ), form_status(form, status)


@bp.route("/disasters/<slug>/people/<int:person_id>/edit", methods=["GET", "POST"])
@writes
def edit_person(slug: str, person_id: int) -> Response | tuple[str, int]:
    disaster = disaster_or_404(slug)
    person = _person_or_404(disaster, person_id)
    form = PersonForm()
    if request.method == "GET":
        form.fill(person)
        log_read(current_actor(), f"person:{person.id}", disaster, 1)
    status = 200
    if form.validate_on_submit():
        try:
            write(lambda: update_person(person, form.fields(), current_actor()))
        except Refusal as refusal:
            flash(str(refusal), "error")
            status = refusal.status
        else:
            flash("変更しました。", "success")
            return redirect(url_for(".person_page", slug=slug, person_id=person.id))
    return render_template(
        "roster/person_form.html", disaster=disaster, form=form, person=person,
        organisations=organisation_datalist(),
    ), form_status(form, status)  # fmt: skip


@bp.post("/disasters/<slug>/people/<int:person_id>/remove")
@writes
def remove_person_view(slug: str, person_id: int) -> Response:
    disaster = disaster_or_404(slug)
    person = _person_or_404(disaster, person_id)
    write(lambda: remove_person(person, current_actor(), request.form.get("reason", "")))
    flash("この災害の名簿から外しました（記録は残ります）。", "success")
    return redirect(url_for(".people", slug=slug))


@bp.post("/disasters/<slug>/people/<int:person_id>/erase")
@writes
def erase_person_view(slug: str, person_id: int) -> Response:
    disaster = disaster_or_404(slug)
    person = _person_or_404(disaster, person_id)
    write(lambda: erase_person(person, current_actor(), request.form.get("reason", "")))
    flash("個人情報を消去しました。延べ人数と実人数はそのままです。", "success")
    return redirect(url_for(".people", slug=slug))


@bp.get("/disasters/<slug>/teams")
def teams(slug: str) -> str:
    disaster = disaster_or_404(slug)
    found = teams_of(disaster, current_user)
    members = dict(
        db.session.execute(
            select(Stint.team_id, func.count())
            .where(Stint.team_id.in_([t.id for t in found]))
            .group_by(Stint.team_id)
        ).all()
    )
    return render_template("roster/teams.html", disaster=disaster, teams=found, members=members)


@bp.route("/disasters/<slug>/teams/new", methods=["GET", "POST"])
@writes
def new_team(slug: str) -> Response | tuple[str, int]:
    disaster = disaster_or_404(slug)
    form = TeamForm(disaster)
    status = 200
    if form.validate_on_submit():
        try:
            team = write(lambda: add_team(disaster, form.fields(), current_actor()))
        except Refusal as refusal:
            flash(str(refusal), "error")
            status = refusal.status
        else:
            flash(f"{team.label}を登録しました。隊員を加えてください。", "success")
            return redirect(url_for(".team_page", slug=slug, team_id=team.id))
    return render_template(
        "roster/team_form.html",
        disaster=disaster,
        form=form,
        team=None,
        organisations=organisation_datalist(),
    ), form_status(form, status)


@bp.route("/disasters/<slug>/teams/<int:team_id>/edit", methods=["GET", "POST"])
@writes
def edit_team(slug: str, team_id: int) -> Response | tuple[str, int]:
    disaster = disaster_or_404(slug)
    team = _team_or_404(disaster, team_id)
    form = TeamForm(disaster, obj=team) if request.method == "GET" else TeamForm(disaster)
    if request.method == "GET":
        form.operation.data, form.duty.data = team.operation.code, team.duty.code
        form.sender.data, form.destination.data = team.sender.label, team.destination.label
    status = 200
    if form.validate_on_submit():
        try:
            write(lambda: update_team(team, form.fields(), current_actor()))
        except Refusal as refusal:
            flash(str(refusal), "error")
            status = refusal.status
        else:
            flash("変更しました。派遣の人数も名簿に合わせました。", "success")
            return redirect(url_for(".team_page", slug=slug, team_id=team.id))
    return render_template(
        "roster/team_form.html",
        disaster=disaster,
        form=form,
        team=team,
        organisations=organisation_datalist(),
    ), form_status(form, status)


@bp.get("/disasters/<slug>/teams/<int:team_id>")
def team_page(slug: str, team_id: int) -> str:
    disaster = disaster_or_404(slug)
    team = _team_or_404(disaster, team_id)
    names = sees_names(current_user)
    if names:
        log_read(current_actor(), f"team:{team.id}", disaster, len(team.stints))
    may_edit = current_user.user_role in (Role.ADMIN, Role.HQ)
    candidates: list[Person] = []
    if may_edit:
        candidates = list(
            db.session.scalars(
                select(Person)
                .where(Person.disaster_id == disaster.id, Person.removed.is_(False))
                .order_by(Person.sender_id, Person.kana)
                .limit(2000)
            )
        )
    return render_template(
        "roster/team.html", disaster=disaster, team=team, names=names, may_edit=may_edit,
        form=MemberForm(start_date=team.start_date, end_date=team.end_date), candidates=candidates,
    )  # fmt: skip


@bp.post("/disasters/<slug>/teams/<int:team_id>/members")
@writes
def add_member(slug: str, team_id: int) -> Response:
    disaster = disaster_or_404(slug)
    team = _team_or_404(disaster, team_id)
    form = MemberForm()
    if not form.validate():
        flash("\n".join(e for errors in form.errors.values() for e in errors), "error")
        return redirect(url_for(".team_page", slug=slug, team_id=team.id))
    person = db.session.get(Person, form.person.data or 0)
    if person is None or person.disaster_id != disaster.id:
        flash("職員が見つかりません。", "error")
        return redirect(url_for(".team_page", slug=slug, team_id=team.id))
    assert form.start_date.date and form.end_date.date
    start, end = form.start_date.date, form.end_date.date
    try:
        write(lambda: set_member(team, person, start, end, current_actor()))
    except Refusal as refusal:
        flash(str(refusal), "error")
    else:
        flash("隊員を登録しました。派遣の人数も名簿に合わせました。", "success")
    return redirect(url_for(".team_page", slug=slug, team_id=team.id))


@bp.post("/disasters/<slug>/teams/<int:team_id>/members/<int:stint_id>/drop")
@writes
def drop_member_view(slug: str, team_id: int, stint_id: int) -> Response:
    disaster = disaster_or_404(slug)
    team = _team_or_404(disaster, team_id)
    stint = next((s for s in team.stints if s.id == stint_id), None)
    if stint is None:
        abort(404)
    try:
        write(lambda: drop_member(stint, current_actor()))
    except Refusal as refusal:
        flash(str(refusal), "error")
    return redirect(url_for(".team_page", slug=slug, team_id=team.id))


@bp.post("/disasters/<slug>/operations/<int:operation_id>/travel-days")
@writes
def travel_days(slug: str, operation_id: int) -> Response:
    disaster = disaster_or_404(slug)
    operation = next((op for op in disaster.operations if op.id == operation_id), None)
    if operation is None:
        abort(404)
    counts = request.form.get("counts") == "1"
    try:
        write(
            lambda: set_travel_days_count(operation, counts, current_actor(), request.form.get("reason", ""))
        )
    except Refusal as refusal:
        flash(str(refusal), "error")
    return redirect(url_for(".teams", slug=slug))

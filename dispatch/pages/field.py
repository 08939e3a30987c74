"""Who is in the field: the page for a date, the rotation calendar per destination, and the lists for the
receiving body and the sender (受入名簿・派遣名簿) as CSV and .xlsx. Names only for those allowed to see
them (field.py); every read of names logged (roster.log_read)."""

from __future__ import annotations

from flask import Blueprint, abort, render_template, request
from flask_login import current_user
from werkzeug.wrappers import Response

from .. import clock
from ..exports import ENCODINGS, csv_response, xlsx_response
from ..extensions import db
from ..field import calendars, on_duty, sees_names, team_visible
from ..lookup import LookupRefused, find_organisation
from ..models import Role
from ..roster import log_read
from ..roster_lists import HEADER, RosterList, csv_rows, write_list
from ..roster_models import Team
from ..web import QueryArgs, current_actor, disaster_or_404, parse_id

bp = Blueprint("field", __name__)


@bp.get("/disasters/<slug>/field")
def field_page(slug: str) -> tuple[str, int]:
    disaster = disaster_or_404(slug)
    args = QueryArgs()
    day = args.date("date") or clock.today()
    rows = on_duty(disaster, day, current_user)
    names = sees_names(current_user)
    if names:
        log_read(current_actor(), f"field:{day.isoformat()}", disaster, len(rows))
    by_destination: dict[str, list[object]] = {}
    for row in rows:
        by_destination.setdefault(row.destination, []).append(row)
    return render_template(
        "roster/field.html", disaster=disaster, day=day, rows=rows, by_destination=by_destination, names=names,
        contacts=current_user.user_role in (Role.ADMIN, Role.HQ), errors=args.errors,
    ), (400 if args.errors else 200)  # fmt: skip


@bp.get("/disasters/<slug>/rotation")
def rotation(slug: str) -> str:
    disaster = disaster_or_404(slug)
    return render_template(
        "roster/rotation.html", disaster=disaster, calendars=calendars(disaster, current_user)
    )


def _which(slug: str) -> tuple[RosterList | None, str]:
    """The list asked for by ?kind=receiving|sending&org=...&date=... or &team=ID, and what is wrong."""
    disaster = disaster_or_404(slug)
    args = QueryArgs()
    kind = request.args.get("kind", "receiving")
    if kind not in ("receiving", "sending"):
        return None, "kind は receiving（受入名簿）または sending（派遣名簿）です。"
    try:
        org = find_organisation(request.args.get("org", ""))
    except LookupRefused as exc:
        return None, f"団体: {exc}"
    user_org = current_user.organisation_id
    if current_user.user_role is Role.MUNICIPALITY and org.id != user_org:
        abort(404)  # a municipality lists the people sent to it, or by it, only
    team = None
    team_id = parse_id(request.args.get("team", "")) if request.args.get("team") else None
    if team_id is not None:
        team = db.session.get(Team, team_id)
        if team is None or team.disaster_id != disaster.id or not team_visible(current_user, team):
            abort(404)
    day = args.date("date")
    if args.errors:
        return None, "　".join(args.errors.values())
    if team is None and day is None:
        day = clock.today()
    return RosterList(kind == "receiving", org, day, team), ""


def _refused(problem: str) -> tuple[str, int]:
    return render_template("error.html", title="名簿を出力できません", message=problem), 400


@bp.get("/disasters/<slug>/roster.csv")
def roster_csv(slug: str) -> Response | tuple[str, int]:
    disaster = disaster_or_404(slug)
    which, problem = _which(slug)
    encoding = request.args.get("encoding", "utf-8")
    if which is None or encoding not in ENCODINGS:
        return _refused(problem or "文字コードは utf-8 または cp932 です。")
    stints = which.stints(disaster)
    log_read(current_actor(), "roster.csv", disaster, len(stints))
    # The first row says what the file holds: personal data.
    return csv_response(
        f"{which.title}.csv", [f"{which.title}（{len(stints)}人）"], [list(HEADER), *csv_rows(stints)], encoding,
        fallback=f"personal_data_{slug}_roster.csv",
    )  # fmt: skip


@bp.get("/disasters/<slug>/roster.xlsx")
def roster_xlsx(slug: str) -> Response | tuple[str, int]:
    disaster = disaster_or_404(slug)
    which, problem = _which(slug)
    if which is None:
        return _refused(problem)
    stints = which.stints(disaster)
    log_read(current_actor(), "roster.xlsx", disaster, len(stints))
    return xlsx_response(
        f"{which.title}.xlsx",
        f"personal_data_{slug}_roster.xlsx",
        lambda file: write_list(file, disaster, which, stints, clock.today()),
    )

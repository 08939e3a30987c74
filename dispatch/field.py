"""Who is in the field: the people on duty on a date, the rotation calendar of a destination, and the teams
that end soon with nobody to follow them.

What a user may see of people is decided here once (`people_visible`): everyone for the administrator and
HQ; for a municipality, the people its own body sent and the people sent to it; for reviewers, counts only
(the pages show them no names).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from sqlalchemy import and_, or_, select

from .extensions import db
from .models import Disaster, Organisation, Role, User
from .roster_models import Person, Stint, Team
from .wareki import format_long

# A team ending within this many days with no team to follow it is a warning (IFRC GO warns likewise).
ENDING_WITHIN_DAYS = 3


def sees_names(user: User) -> bool:
    """Reviewers see counts of people, never names or contacts."""
    return user.user_role is not Role.REVIEWER


def people_visible(user: User) -> Any:
    """The condition on Person (joined with its Team) for the people this user may see: None for all."""
    if user.user_role is Role.MUNICIPALITY:
        return or_(Person.sender_id == user.organisation_id, Team.destination_id == user.organisation_id)
    return None


def people_condition(user: User) -> Any:
    """The condition on Person alone for the people this user may see: None for all."""
    if user.user_role is not Role.MUNICIPALITY:
        return None
    received = select(Stint.person_id).join(Team, Team.id == Stint.team_id)
    received = received.where(Team.destination_id == user.organisation_id)
    return or_(Person.sender_id == user.organisation_id, Person.id.in_(received))


def person_visible(user: User, person: Person) -> bool:
    if user.user_role is not Role.MUNICIPALITY:
        return sees_names(user)
    if person.sender_id == user.organisation_id:
        return True
    return bool(
        db.session.scalar(
            select(Stint.id)
            .join(Team, Team.id == Stint.team_id)
            .where(Stint.person_id == person.id, Team.destination_id == user.organisation_id)
            .limit(1)
        )
    )


def team_visible(user: User, team: Team) -> bool:
    if user.user_role is not Role.MUNICIPALITY:
        return True
    return user.organisation_id in (team.sender_id, team.destination_id)


@dataclass(frozen=True, slots=True)
class OnDuty:
    """One person in the field on a date: plain values, read in one statement (a busy day has thousands)."""

    name: str
    position: str
    contact: str
    sender: str
    team: str  # 長崎県 第1陣
    destination: str
    section: str  # 配属先
    travel: bool  # the day is one of the team's travel days


_PersonSender = Organisation.__table__.alias("person_sender")
_TeamSender = Organisation.__table__.alias("team_sender")
_Destination = Organisation.__table__.alias("destination")


def on_duty(disaster: Disaster, day: date, user: User) -> list[OnDuty]:
    """Everyone in the field on the date (travel days included: they are on the road), by destination and
    team; people removed from the disaster are left out."""
    t, p, st = Team.__table__.c, Person.__table__.c, Stint.__table__.c
    stmt = (
        select(
            p.name,
            p.position,
            p.contact,
            _PersonSender.c.name,
            _TeamSender.c.name,
            t.number,
            _Destination.c.name,
            t.receiving_section,
            t.start_date,
            t.end_date,
            t.travel_at_start,
            t.travel_at_end,
        )  # fmt: skip
        .select_from(Stint.__table__)
        .join(Team.__table__, t.id == st.team_id)
        .join(Person.__table__, p.id == st.person_id)
        .join(_PersonSender, _PersonSender.c.id == p.sender_id)
        .join(_TeamSender, _TeamSender.c.id == t.sender_id)
        .join(_Destination, _Destination.c.id == t.destination_id)
        .where(t.disaster_id == disaster.id, st.start_date <= day, st.end_date >= day, p.removed.is_(False))
        .order_by(_Destination.c.code, t.start_date, t.id, p.kana, p.id)
    )
    visible = people_visible(user)
    if visible is not None:
        stmt = stmt.where(visible)
    return [
        OnDuty(
            name,
            position,
            contact,
            sender,
            f"{team_sender} 第{number}陣",
            destination,
            section,
            (at_start and day == first) or (at_end and day == last),
        )  # fmt: skip
        for name, position, contact, sender, team_sender, number, destination, section, first, last, at_start, at_end in db.session.execute(
            stmt
        )
    ]


def teams_of(disaster: Disaster, user: User | None, destination: Organisation | None = None) -> list[Team]:
    """The disaster's teams (those the user may see; every one for None, the division's digest)."""
    stmt = select(Team).where(Team.disaster_id == disaster.id).order_by(Team.start_date, Team.number, Team.id)
    if destination is not None:
        stmt = stmt.where(Team.destination_id == destination.id)
    if user is not None and user.user_role is Role.MUNICIPALITY:
        stmt = stmt.where(
            or_(Team.sender_id == user.organisation_id, Team.destination_id == user.organisation_id)
        )
    return list(db.session.scalars(stmt))


def ending_soon(disaster: Disaster, as_of: date, user: User | None) -> list[Team]:
    """Teams ending within ENDING_WITHIN_DAYS of the date with no team of the same operation, destination
    and duty on duty the day after."""
    until = as_of + timedelta(days=ENDING_WITHIN_DAYS)
    ending = [t for t in teams_of(disaster, user) if as_of <= t.end_date <= until]
    if not ending:
        return []
    Later = Team.__table__.alias("later")
    followed: set[int] = set()
    for team in ending:
        nxt = team.end_date + timedelta(days=1)
        successor = db.session.scalar(
            select(Later.c.id)
            .where(
                and_(
                    Later.c.operation_id == team.operation_id,
                    Later.c.destination_id == team.destination_id,
                    Later.c.duty_id == team.duty_id,
                    Later.c.start_date <= nxt,
                    Later.c.end_date >= nxt,
                )
            )
            .limit(1)
        )
        if successor is not None:
            followed.add(team.id)
    return [t for t in ending if t.id not in followed]


@dataclass(frozen=True)
class Bar:
    team: Team
    left: float  # percent of the calendar's width
    width: float
    overlaps: bool  # on duty together with another team some day (a handover)


@dataclass(frozen=True)
class Calendar:
    destination: Organisation
    first: date
    last: date
    bars: list[Bar]
    gaps: list[tuple[date, date]]  # days inside the span that no team covers

    @property
    def days(self) -> int:
        return (self.last - self.first).days + 1

    @property
    def gap_spans(self) -> list[tuple[float, float]]:
        """The gaps as (left, width) in percent of the calendar's width, shaded behind every bar."""
        return [
            (100 * (first - self.first).days / self.days, 100 * ((last - first).days + 1) / self.days)
            for first, last in self.gaps
        ]


def ending_line(team: Team) -> str:
    return f"{team.sender.name} {team.label} → {team.destination.name}（{team.duty.name_ja}）{format_long(team.end_date)}まで"


def calendars(disaster: Disaster, user: User) -> list[Calendar]:
    """One calendar per destination: its teams as bars over the span they cover, and the gaps."""
    by_destination: dict[int, list[Team]] = {}
    for team in teams_of(disaster, user):
        by_destination.setdefault(team.destination_id, []).append(team)
    result = []
    for teams in sorted(by_destination.values(), key=lambda ts: ts[0].destination.code):
        first = min(t.start_date for t in teams)
        last = max(t.end_date for t in teams)
        span = (last - first).days + 1
        bars = [
            Bar(
                t,
                100 * (t.start_date - first).days / span,
                100 * ((t.end_date - t.start_date).days + 1) / span,
                any(o is not t and o.start_date <= t.end_date and t.start_date <= o.end_date for o in teams),
            )
            for t in teams
        ]
        result.append(Calendar(teams[0].destination, first, last, bars, _gaps(teams, first, last)))
    return result


def _gaps(teams: list[Team], first: date, last: date) -> list[tuple[date, date]]:
    covered: set[date] = set()
    for t in teams:
        covered.update(t.start_date + timedelta(days=n) for n in range((t.end_date - t.start_date).days + 1))
    gaps: list[tuple[date, date]] = []
    day = first
    while day <= last:
        if day not in covered:
            start = day
            while day + timedelta(days=1) <= last and day + timedelta(days=1) not in covered:
                day += timedelta(days=1)
            gaps.append((start, day))
        day += timedelta(days=1)
    return gaps

"""Requests (要請) and who covers them: enter, revise, withdraw, close, assign; counterparts (対口支援).

Use cases flush and never commit; every change is audited. A request's figures are its revisions: each
applies from its own start date to its end, and the request as of a date is the revision with the latest
start on or before that date (`revision_as_of`). Withdrawing keeps the past: the request counts up to the
day before it was withdrawn.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from sqlalchemy import or_, select

from . import audit
from .actors import Actor
from .errors import Refusal
from .extensions import db
from .models import Disaster, Duty, Organisation, Role
from .request_models import (
    STATE_LABELS,
    Assignment,
    CounterpartAssignment,
    RequestRevision,
    RequestState,
    Route,
    StaffRequest,
)
from .wareki import format_long

MAX_PERSONS = 100_000


class RequestRefused(Refusal):
    """A request, revision, assignment or counterpart cannot be recorded as asked."""


def fiscal_year_of(day: date) -> int:
    """年度: April to March, named by the year it starts in."""
    return day.year if day.month >= 4 else day.year - 1


def fiscal_year_span(year: int) -> tuple[date, date]:
    return date(year, 4, 1), date(year + 1, 3, 31)


@dataclass(frozen=True)
class RequestDraft:
    """What a person or an import line gives for a new request (its first revision included)."""

    number: str
    requester: Organisation
    received_on: date
    route: Route
    duty: Duty | None
    persons: int
    date_from: date
    date_to: date
    fiscal_year: int | None = None
    job_type: str = ""
    place: str = ""
    reason: str = ""
    conditions: str = ""
    lodging: str = ""
    note: str = ""


def check_figures(
    route: Route, persons: int, date_from: date, date_to: date, fiscal_year: int | None
) -> None:
    if not 0 <= persons <= MAX_PERSONS:
        raise RequestRefused(f"人数は0から{MAX_PERSONS:,}までの整数で入力してください。")
    if date_to < date_from:
        raise RequestRefused(
            f"終了日（{format_long(date_to)}）が開始日（{format_long(date_from)}）より前です。"
        )
    if route is Route.LONG_TERM:
        if fiscal_year is None:
            raise RequestRefused("中長期（地方自治法第252条の17）の要請には年度を入力してください。")
        start, end = fiscal_year_span(fiscal_year)
        if date_from < start or date_to > end:
            raise RequestRefused(
                f"期間は{fiscal_year}年度（{format_long(start)}〜{format_long(end)}）の内にしてください。"
            )
    elif fiscal_year is not None:
        raise RequestRefused("年度は中長期（地方自治法第252条の17）の要請にだけ入力します。")


def _check_requester(requester: Organisation) -> None:
    if not requester.active:
        raise RequestRefused(f"{requester.name}は無効化されています。")


def create_request(disaster: Disaster, draft: RequestDraft, actor: Actor) -> StaffRequest:
    number = draft.number.strip()
    if not number:
        raise RequestRefused("要請番号を入力してください。")
    if draft.route is not Route.LONG_TERM and draft.duty is None:
        raise RequestRefused("業務を入力してください（中長期の要請のほかは必須です）。")
    _check_requester(draft.requester)
    check_figures(draft.route, draft.persons, draft.date_from, draft.date_to, draft.fiscal_year)
    taken = db.session.scalar(
        select(StaffRequest.id).where(StaffRequest.disaster_id == disaster.id, StaffRequest.number == number)
    )
    if taken is not None:
        raise RequestRefused(f"要請番号「{number}」は登録済みです。")
    request = StaffRequest(
        disaster_id=disaster.id,
        number=number,
        requester=draft.requester,
        received_on=draft.received_on,
        route=draft.route.value,
        duty=draft.duty,
        job_type=draft.job_type.strip(),
        place=draft.place.strip(),
        reason=draft.reason,
        conditions=draft.conditions,
        lodging=draft.lodging,
        note=draft.note,
        state=RequestState.OPEN.value,
        created_by=actor.name,
    )
    db.session.add(request)
    request.revisions.append(
        RequestRevision(
            date_from=draft.date_from,
            date_to=draft.date_to,
            persons=draft.persons,
            fiscal_year=draft.fiscal_year,
            created_by=actor.name,
        )
    )
    refresh_spans(request)
    db.session.flush()
    _audit("create", request, actor, after=request_snapshot(request))
    return request


def update_request(request: StaffRequest, actor: Actor, **fields: Any) -> StaffRequest:
    """Change what the request says besides its figures (those are revised): place, conditions, 職種 …"""
    before = request_snapshot(request)
    editable = {
        "received_on",
        "job_type",
        "place",
        "reason",
        "conditions",
        "lodging",
        "note",
        "requester",
        "duty",
    }
    for name, value in fields.items():
        if name not in editable:
            raise ValueError(name)
        setattr(request, name, value.strip() if isinstance(value, str) else value)
    if not request.long_term and request.duty is None:
        raise RequestRefused("業務を入力してください（中長期の要請のほかは必須です）。")
    _check_requester(request.requester)
    db.session.flush()
    _audit("update", request, actor, before=before, after=request_snapshot(request))
    return request


def revise_request(
    request: StaffRequest,
    actor: Actor,
    *,
    persons: int,
    date_from: date,
    date_to: date,
    fiscal_year: int | None = None,
    note: str = "",
) -> RequestRevision:
    """A change from `date_from` on ("from 8/5, 10 more a day"): the earlier figures stay for earlier dates."""
    if request.state == RequestState.WITHDRAWN.value:
        raise RequestRefused("取下げられた要請は改訂できません。")
    check_figures(Route(request.route), persons, date_from, date_to, fiscal_year)
    if any(r.date_from == date_from for r in request.revisions):
        raise RequestRefused(
            f"{format_long(date_from)}から適用する改訂は登録済みです。別の開始日にしてください。"
        )
    before = request_snapshot(request)
    revision = RequestRevision(
        date_from=date_from,
        date_to=date_to,
        persons=persons,
        fiscal_year=fiscal_year,
        note=note,
        created_by=actor.name,
    )
    request.revisions.append(revision)
    request.revisions.sort(key=lambda r: r.date_from)
    refresh_spans(request)
    db.session.flush()
    _audit("revise", request, actor, before=before, after=request_snapshot(request))
    return revision


def withdraw_request(request: StaffRequest, on: date, actor: Actor, reason: str = "") -> StaffRequest:
    """取下げ from `on`: the request no longer counts on that day or later."""
    if request.state == RequestState.WITHDRAWN.value:
        raise RequestRefused("この要請は取下げ済みです。")
    before = request_snapshot(request)
    request.state = RequestState.WITHDRAWN.value
    request.withdrawn_on = on
    refresh_spans(request)
    db.session.flush()
    _audit("withdraw", request, actor, before=before, after=request_snapshot(request), reason=reason)
    return request


def set_state(request: StaffRequest, state: RequestState, actor: Actor) -> StaffRequest:
    """要請中 / 調整中 / 終了 (reviewers close); withdrawing has its own date (withdraw_request)."""
    if state is RequestState.WITHDRAWN:
        raise ValueError("use withdraw_request")
    if state is RequestState.CLOSED and actor.role not in (Role.ADMIN, Role.REVIEWER):
        raise RequestRefused("要請を終了にできるのは総合防災課と管理者です。")
    before = request_snapshot(request)
    request.state = state.value
    request.withdrawn_on = None
    refresh_spans(request)
    db.session.flush()
    _audit("update", request, actor, before=before, after=request_snapshot(request))
    return request


def add_assignment(
    request: StaffRequest,
    sender: Organisation,
    actor: Actor,
    *,
    persons: int,
    date_from: date,
    date_to: date,
    decided_on: date,
    note: str = "",
) -> Assignment:
    if not 1 <= persons <= MAX_PERSONS:
        raise RequestRefused(f"人数は1から{MAX_PERSONS:,}までの整数で入力してください。")
    if date_to < date_from:
        raise RequestRefused(
            f"終了日（{format_long(date_to)}）が開始日（{format_long(date_from)}）より前です。"
        )
    if sender.id == request.requester_id:
        raise RequestRefused("要請元と同じ団体は応援団体にできません。")
    if not sender.active:
        raise RequestRefused(f"{sender.name}は無効化されています。")
    assignment = Assignment(
        request=request,
        sender=sender,
        persons=persons,
        date_from=date_from,
        date_to=date_to,
        decided_on=decided_on,
        note=note,
        created_by=actor.name,
    )
    db.session.add(assignment)
    refresh_spans(request)
    db.session.flush()
    audit.record(
        "create",
        "assignment",
        assignment.id,
        actor=actor,
        disaster_id=request.disaster_id,
        after=assignment_snapshot(assignment),
        summary=f"要請{request.number} {sender.name} {persons}人",
    )
    return assignment


def add_counterpart(
    disaster: Disaster,
    supporter: Organisation,
    supported: Organisation,
    actor: Actor,
    *,
    stage: str,
    decided_on: date,
    note: str = "",
) -> CounterpartAssignment:
    if supporter.id == supported.id:
        raise RequestRefused("対口支援団体と被災市区町村が同じです。")
    stage = stage.strip()
    taken = db.session.scalar(
        select(CounterpartAssignment.id).where(
            CounterpartAssignment.disaster_id == disaster.id,
            CounterpartAssignment.supporter_id == supporter.id,
            CounterpartAssignment.supported_id == supported.id,
            CounterpartAssignment.stage == stage,
        )
    )
    if taken is not None:
        raise RequestRefused(f"{supporter.name}→{supported.name}（{stage or '段階なし'}）は登録済みです。")
    pair = CounterpartAssignment(
        disaster_id=disaster.id,
        supporter=supporter,
        supported=supported,
        stage=stage,
        decided_on=decided_on,
        note=note,
        created_by=actor.name,
    )
    db.session.add(pair)
    db.session.flush()
    audit.record(
        "create",
        "counterpart",
        pair.id,
        actor=actor,
        disaster_id=disaster.id,
        after={
            "supporter": supporter.code,
            "supporter_name": supporter.name,
            "supported": supported.code,
            "supported_name": supported.name,
            "stage": stage,
            "decided_on": decided_on.isoformat(),
        },
        summary=f"対口支援 {supporter.name}→{supported.name} {stage}",
    )
    return pair


def refresh_spans(request: StaffRequest) -> None:
    """The copies the fill reads (fill.py): each revision's and assignment's request, duty and destination,
    and the last day it counts. Called by every use case that changes a request's figures or state, before the
    new rows are flushed (the reads below must not flush them half-filled)."""
    with db.session.no_autoflush:
        _refresh_spans(request)


def _refresh_spans(request: StaffRequest) -> None:
    day = timedelta(days=1)
    revisions = sorted(request.revisions, key=lambda r: r.date_from)
    stop = None if request.withdrawn_on is None else request.withdrawn_on - day
    for index, revision in enumerate(revisions):
        end = revision.date_to
        if index + 1 < len(revisions):
            end = min(end, revisions[index + 1].date_from - day)
        if stop is not None:
            end = min(end, stop)
        revision.disaster_id = request.disaster_id
        revision.requester_id = _requester_id(request)
        revision.duty_id = request.duty.id if request.duty else None
        revision.in_force_to = None if request.long_term or end < revision.date_from else end
    for assignment in request.assignments:
        end = assignment.date_to if stop is None else min(assignment.date_to, stop)
        assignment.disaster_id = request.disaster_id
        assignment.requester_id = _requester_id(request)
        assignment.duty_id = request.duty.id if request.duty else None
        assignment.counts_to = None if request.long_term or end < assignment.date_from else end


def _requester_id(request: StaffRequest) -> int:
    return request.requester_id if request.requester_id else request.requester.id


# --- reading --------------------------------------------------------------------------------------------


def revision_as_of(request: StaffRequest, day: date) -> RequestRevision | None:
    """The revision in force on `day`: the latest start on or before it (None before the first)."""
    current = None
    for revision in request.revisions:
        if revision.date_from <= day and (current is None or revision.date_from >= current.date_from):
            current = revision
    return current


def persons_on(request: StaffRequest, day: date) -> int:
    """Persons a day the request asks for on `day` (0 outside its period, once withdrawn, or 中長期)."""
    if request.long_term or (request.withdrawn_on is not None and request.withdrawn_on <= day):
        return 0
    revision = revision_as_of(request, day)
    if revision is None or revision.date_to < day:
        return 0
    return revision.persons


def state_label(request: StaffRequest, requested: int, on_duty: int, assigned: int) -> str:
    """要請中 / 調整中 / 一部充足 / 充足 / 取下げ / 終了: derived from the day's fill where a person set none."""
    state = RequestState(request.state)
    if state in (RequestState.WITHDRAWN, RequestState.CLOSED):
        return STATE_LABELS[state]
    if requested and on_duty >= requested:
        return "充足"
    if on_duty:
        return "一部充足"
    if assigned or state is RequestState.COORDINATING:
        return "調整中"
    return STATE_LABELS[state]


def request_list(disaster: Disaster, organisation_id: int | None = None) -> list[StaffRequest]:
    """The disaster's requests by number; for a municipality, those it made and those it covers."""
    stmt = select(StaffRequest).where(StaffRequest.disaster_id == disaster.id)
    if organisation_id is not None:
        covering = select(Assignment.request_id).where(Assignment.sender_id == organisation_id)
        stmt = stmt.where(or_(StaffRequest.requester_id == organisation_id, StaffRequest.id.in_(covering)))
    return list(db.session.scalars(stmt.order_by(StaffRequest.received_on, StaffRequest.number)))


def may_see(request: StaffRequest, organisation_id: int | None) -> bool:
    if organisation_id is None or request.requester_id == organisation_id:
        return True
    return any(a.sender_id == organisation_id for a in request.assignments)


def matching_requests(disaster_id: int, destination_id: int, duty_id: int, day: date) -> list[StaffRequest]:
    """The requests an entry of that destination, duty and date would fill; an entry links to its request
    when exactly one matches (computed when read, so the entry's write path does not change), and by choice
    where several do (request_links.py)."""
    candidates = db.session.scalars(
        select(StaffRequest).where(
            StaffRequest.disaster_id == disaster_id,
            StaffRequest.requester_id == destination_id,
            StaffRequest.duty_id == duty_id,
            StaffRequest.route != Route.LONG_TERM.value,
        )
    )
    return [r for r in candidates if within_period(r, day)]


def within_period(request: StaffRequest, day: date) -> bool:
    if request.withdrawn_on is not None and request.withdrawn_on <= day:
        return False
    revision = revision_as_of(request, day)
    return revision is not None and revision.date_to >= day


def linked_request(disaster_id: int, destination_id: int, duty_id: int, day: date) -> StaffRequest | None:
    found = matching_requests(disaster_id, destination_id, duty_id, day)
    return found[0] if len(found) == 1 else None


# --- the audit trail ------------------------------------------------------------------------------------


def request_snapshot(request: StaffRequest) -> dict[str, Any]:
    return {
        "number": request.number,
        "requester": request.requester.code,
        "requester_name": request.requester.name,
        "received_on": request.received_on.isoformat(),
        "route": request.route,
        "duty": request.duty.code if request.duty else None,
        "job_type": request.job_type,
        "place": request.place,
        "reason": request.reason,
        "conditions": request.conditions,
        "lodging": request.lodging,
        "note": request.note,
        "state": request.state,
        "withdrawn_on": request.withdrawn_on.isoformat() if request.withdrawn_on else None,
        "revisions": "; ".join(
            f"{r.date_from.isoformat()}..{r.date_to.isoformat()} {r.persons}"
            + (f" FY{r.fiscal_year}" if r.fiscal_year is not None else "")
            for r in request.revisions
        ),
    }


def assignment_snapshot(assignment: Assignment) -> dict[str, Any]:
    return {
        "request": assignment.request.number,
        "sender": assignment.sender.code,
        "sender_name": assignment.sender.name,
        "persons": assignment.persons,
        "date_from": assignment.date_from.isoformat(),
        "date_to": assignment.date_to.isoformat(),
        "decided_on": assignment.decided_on.isoformat(),
        "note": assignment.note,
    }


def _audit(action: str, request: StaffRequest, actor: Actor, **values: Any) -> None:
    audit.record(
        action,
        "request",
        request.id,
        actor=actor,
        disaster_id=request.disaster_id,
        summary=f"要請{request.number} {request.requester.name}",
        **values,
    )

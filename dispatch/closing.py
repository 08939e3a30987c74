"""締め: closing a day's figures once the division has checked them, and reopening it.

A closed date's entries are 確定 (final) and everything else is 速報 (provisional). Changing a closed
date afterwards needs a reviewer or an admin and a reason, and is flagged in the audit trail. A day
whose roster and typed headcounts disagree (disagreements.py) is closed only with a reason.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from datetime import date

from sqlalchemy import bindparam, select

from . import audit
from .actors import Actor
from .disagreements import by_date, disagreements, needs_reason
from .errors import ClosingError, ReasonRequired
from .extensions import db
from .models import ClosedDay, Disaster
from .query import day_summaries
from .wareki import format_long

# Built once: every entry form page and every entry written asks, and building a statement anew costs more
# Python than the database spends answering it.
_CLOSED = select(ClosedDay.date).where(ClosedDay.disaster_id == bindparam("disaster_id"))
_CLOSED_BETWEEN = _CLOSED.where(ClosedDay.date.between(bindparam("first"), bindparam("last")))


def closed_dates(disaster: Disaster, among: Iterable[date] | None = None) -> set[date]:
    """The disaster's closed dates, or those of them among the given dates."""
    if among is None:
        return set(db.session.scalars(_CLOSED, {"disaster_id": disaster.id}))
    wanted = set(among)
    if not wanted:
        return set()
    params = {"disaster_id": disaster.id, "first": min(wanted), "last": max(wanted)}
    return {d for d in db.session.scalars(_CLOSED_BETWEEN, params) if d in wanted}


def status_label(day: date, closed: set[date]) -> str:
    return "確定" if day in closed else "速報"


def guard_closed(disaster: Disaster, dates: Iterable[date], actor: Actor, reason: str) -> set[date]:
    """The closed dates a change touches; refused when the actor may not amend them or gave no reason."""
    closed = closed_dates(disaster, dates)
    refusal = closed_refusal(closed, actor, reason)
    if refusal:
        raise ClosingError(refusal)
    return closed


def closed_refusal(closed: Iterable[date], actor: Actor, reason: str) -> str | None:
    """Why a change touching these closed dates is refused for this actor with this reason; None when it
    may go ahead (no closed date, or a reviewer who gave a reason). Pages say it before saving too."""
    days = sorted(set(closed))
    if not days:
        return None
    shown = "、".join(format_long(d) for d in days[:3]) + ("ほか" if len(days) > 3 else "")
    if not actor.may_amend_closed_days:
        return f"{shown}は締め済み（確定）です。変更は総合防災課に依頼してください。"
    if not reason.strip():
        return f"{shown}は締め済み（確定）です。変更する理由を入力してください。"
    return None


@dataclass(frozen=True)
class ClosedNotice:
    """The closed dates a change would touch, said before saving: what will be refused, if anything."""

    days: list[date]
    refusal: str | None

    @property
    def message(self) -> str:
        if self.refusal:
            return self.refusal
        shown = "、".join(format_long(d) for d in self.days[:3]) + ("ほか" if len(self.days) > 3 else "")
        return f"{shown}は締め済み（確定）です。変更は理由とともに監査ログに記録されます。"


def closed_notice(
    disaster: Disaster,
    dates: Iterable[date],
    actor: Actor,
    reason: str,
    *,
    known_closed: AbstractSet[date] | None = None,
) -> ClosedNotice | None:
    """The notice a page shows before saving a change on these dates; None when none of them is closed.
    `known_closed`: every closed date of the disaster, when the page has read them already."""
    closed = closed_dates(disaster, dates) if known_closed is None else known_closed & set(dates)
    if not closed:
        return None
    return ClosedNotice(sorted(closed), closed_refusal(closed, actor, reason))


def close_day(disaster: Disaster, day: date, actor: Actor, reason: str = "") -> ClosedDay:
    """Close one day; a day whose roster and typed headcounts disagree needs a reason."""
    _may_close(actor)
    if day in closed_dates(disaster, [day]):
        raise ClosingError(f"{format_long(day)}は締め済みです。")
    [closed] = _close(disaster, [day], actor, reason)
    return closed


@dataclass(frozen=True)
class OpenDay:
    """A date with entries that is not closed yet: what closing it makes 確定."""

    day: date
    entries: int
    person_days: int


def open_days_up_to(disaster: Disaster, up_to: date) -> list[OpenDay]:
    """Every date up to and including ``up_to`` that has entries and is not closed, oldest first.

    A date without entries is not among them: closing such a day says "no dispatch that day" was checked,
    which is a decision for that one day (close_day), not a consequence of a range.
    """
    closed = closed_dates(disaster)
    return [
        OpenDay(day, entries, person_days)
        for day, entries, person_days in reversed(day_summaries(disaster, date_to=up_to))
        if day not in closed
    ]


def confirmation_of(days: Sequence[OpenDay]) -> str:
    """A short fingerprint of the days and figures a person was shown before closing them together."""
    listed = ";".join(f"{d.day.isoformat()}:{d.entries}:{d.person_days}" for d in days)
    return hashlib.sha256(listed.encode()).hexdigest()[:16]


def close_days_up_to(
    disaster: Disaster, up_to: date, actor: Actor, confirmed: str, reason: str = ""
) -> list[OpenDay]:
    """Close every open day up to ``up_to`` at once, one audit record per day; the days closed.

    ``confirmed`` is the fingerprint (confirmation_of) of the list the person confirmed: when an entry or a
    closing changed those days since, nothing is closed and the list must be confirmed again, so that no
    day is made 確定 with figures nobody saw.
    """
    _may_close(actor)
    days = open_days_up_to(disaster, up_to)
    if not days:
        raise ClosingError(f"{format_long(up_to)}までに、締めていない派遣のある日はありません。")
    if confirmation_of(days) != confirmed:
        raise ClosingError("確認した後に、締める日か派遣の数字が変わりました。もう一度確認してください。")
    _close(disaster, [d.day for d in days], actor, reason)
    return days


def _may_close(actor: Actor) -> None:
    if not actor.may_amend_closed_days:
        raise ClosingError("締めは総合防災課（確認担当）または管理者が行います。")


def _close(disaster: Disaster, days: Sequence[date], actor: Actor, reason: str) -> list[ClosedDay]:
    """Close the days, one audit record each; refused without a reason when any has a disagreement."""
    disagreeing = by_date(disagreements(disaster.id, among=days))
    if disagreeing and not reason.strip():
        raise ReasonRequired(needs_reason(disagreeing))
    closed = [ClosedDay(disaster_id=disaster.id, date=day, closed_by=actor.name) for day in days]
    db.session.add_all(closed)
    db.session.flush()
    for row in closed:
        found = disagreeing.get(row.date, [])
        audit.record(
            "close_day",
            "closed_day",
            row.id,
            actor=actor,
            disaster_id=disaster.id,
            after={"date": row.date.isoformat()},
            reason=reason.strip(),
            summary=f"{format_long(row.date)}を締め（確定）"
            + (f"、名簿と入力の不一致{len(found)}件" if found else ""),
        )
    return closed


def reopen_day(disaster: Disaster, day: date, actor: Actor, reason: str) -> None:
    if not actor.may_amend_closed_days:
        raise ClosingError("締めの取消しは総合防災課（確認担当）または管理者が行います。")
    if not reason.strip():
        raise ClosingError("締めを取り消す理由を入力してください。")
    closed = db.session.scalar(
        select(ClosedDay).where(ClosedDay.disaster_id == disaster.id, ClosedDay.date == day)
    )
    if closed is None:
        raise ClosingError(f"{format_long(day)}は締められていません。")
    audit.record(
        "reopen_day",
        "closed_day",
        closed.id,
        actor=actor,
        disaster_id=disaster.id,
        before={"date": day.isoformat(), "closed_by": closed.closed_by},
        reason=reason.strip(),
        summary=f"{format_long(day)}の締めを取消し（速報に戻す）",
        closed_day_change=True,
    )
    db.session.delete(closed)
    db.session.flush()

"""締め: closing a day's figures once the division has checked them, and reopening it.

A closed date's entries are 確定 (final) and everything else is 速報 (provisional). Changing a closed
date afterwards needs a reviewer or an admin and a reason, and is flagged in the audit trail.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date

from sqlalchemy import select

from . import audit
from .actors import Actor
from .errors import ClosingError
from .extensions import db
from .models import ClosedDay, Disaster
from .wareki import format_long


def closed_dates(disaster: Disaster, among: Iterable[date] | None = None) -> set[date]:
    stmt = select(ClosedDay.date).where(ClosedDay.disaster_id == disaster.id)
    if among is not None:
        wanted = sorted(set(among))
        if not wanted:
            return set()
        stmt = stmt.where(ClosedDay.date.between(wanted[0], wanted[-1]))
        return {d for d in db.session.scalars(stmt) if d in set(wanted)}
    return set(db.session.scalars(stmt))


def status_label(day: date, closed: set[date]) -> str:
    return "確定" if day in closed else "速報"


def guard_closed(disaster: Disaster, dates: Iterable[date], actor: Actor, reason: str) -> set[date]:
    """The closed dates a change touches; refused when the actor may not amend them or gave no reason."""
    closed = closed_dates(disaster, dates)
    if not closed:
        return closed
    shown = "、".join(format_long(d) for d in sorted(closed)[:3]) + ("ほか" if len(closed) > 3 else "")
    if not actor.may_amend_closed_days:
        raise ClosingError(f"{shown}は締め済み（確定）です。変更は総合防災課に依頼してください。")
    if not reason.strip():
        raise ClosingError(f"{shown}は締め済み（確定）です。変更する理由を入力してください。")
    return closed


def close_day(disaster: Disaster, day: date, actor: Actor) -> ClosedDay:
    if not actor.may_amend_closed_days:
        raise ClosingError("締めは総合防災課（確認担当）または管理者が行います。")
    if day in closed_dates(disaster, [day]):
        raise ClosingError(f"{format_long(day)}は締め済みです。")
    closed = ClosedDay(disaster_id=disaster.id, date=day, closed_by=actor.name)
    db.session.add(closed)
    db.session.flush()
    audit.record(
        "close_day",
        "closed_day",
        closed.id,
        actor=actor,
        disaster_id=disaster.id,
        after={"date": day.isoformat()},
        summary=f"{format_long(day)}を締め（確定）",
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

"""The audit trail: who changed what, when, the values before and after, and why.

Writers call `record` in the same transaction as the change, so a change and its record are committed or
lost together. Snapshots hold codes and names rather than ids, so a record still reads correctly after the
objects it names have changed, and a deleted entry can be rebuilt from its last snapshot.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from sqlalchemy import Select, insert, select

from .actors import Actor
from .config import TIME_ZONE
from .extensions import db
from .models import AuditRecord, Disaster, Duty, Operation, Organisation, ReceivingSection, User, utcnow
from .wareki import format_long


def record(
    action: str,
    object_type: str,
    object_id: int | None,
    *,
    actor: Actor,
    disaster_id: int | None = None,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    reason: str = "",
    summary: str = "",
    closed_day_change: bool = False,
) -> AuditRecord:
    rec = AuditRecord(
        **new_record(
            action,
            object_type,
            object_id,
            actor=actor,
            at=utcnow(),
            disaster_id=disaster_id,
            before=before,
            after=after,
            reason=reason,
            summary=summary,
            closed_day_change=closed_day_change,
        )
    )
    db.session.add(rec)
    return rec


def new_record(
    action: str,
    object_type: str,
    object_id: int | None,
    *,
    actor: Actor,
    at: datetime,
    disaster_id: int | None = None,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    reason: str = "",
    summary: str = "",
    closed_day_change: bool = False,
) -> dict[str, Any]:
    """The columns of one record, as `record` writes them; `record_many` writes a list of these."""
    return {
        "at": at,
        "actor": actor.name,
        "action": action,
        "object_type": object_type,
        "object_id": object_id,
        "disaster_id": disaster_id,
        "before": before,
        "after": after,
        "reason": reason,
        "summary": summary,
        "closed_day_change": closed_day_change,
    }


def record_many(records: Sequence[dict[str, Any]]) -> None:
    """Write records built by `new_record` in one executemany, bypassing the session's unit of work:
    an import writes one record per entry, and holding a hundred thousand objects until commit would
    cost far more time and memory than the rows themselves."""
    if records:
        db.session.execute(insert(AuditRecord.__table__), records)


class EntryFacts(Protocol):
    """What a snapshot reads: an Entry, or a draft about to become one."""

    @property
    def date(self) -> date: ...
    @property
    def operation(self) -> Operation: ...
    @property
    def sender(self) -> Organisation: ...
    @property
    def sender_unit(self) -> str: ...
    @property
    def destination(self) -> Organisation: ...
    @property
    def duty(self) -> Duty: ...
    @property
    def headcount(self) -> int: ...
    @property
    def note(self) -> str: ...


def entry_snapshot(entry: EntryFacts) -> dict[str, Any]:
    return {
        "date": entry.date.isoformat(),
        "operation": entry.operation.code,
        "sender": entry.sender.code,
        "sender_name": entry.sender.name,
        "sender_unit": entry.sender_unit,
        "destination": entry.destination.code,
        "destination_name": entry.destination.name,
        "duty": entry.duty.code,
        "duty_name": entry.duty.name_ja,
        "headcount": entry.headcount,
        "note": entry.note,
    }


def entry_summary(entry: EntryFacts) -> str:
    return dated_summary(format_long(entry.date), entry_route(entry), entry.headcount)


def entry_route(entry: EntryFacts) -> str:
    """An entry's summary less its date and headcount: who sent to whom for what (the same for every day of
    a key, so a writer of many days' records builds it once)."""
    unit = f"（{entry.sender_unit}）" if entry.sender_unit else ""
    return f"{entry.sender.name}{unit}→{entry.destination.name} {entry.duty.name_ja}"


def dated_summary(long_date: str, route: str, headcount: int) -> str:
    return f"{long_date} {route} {headcount}人"


def disaster_snapshot(disaster: Disaster) -> dict[str, Any]:
    return {
        "slug": disaster.slug,
        "name": disaster.name,
        "start_date": disaster.start_date.isoformat(),
        # Names, in code order: the trail reads 「秋田県、山形県」.
        "prefectures": "、".join(p.name for p in sorted(disaster.prefectures, key=lambda p: p.code)),
        "closed_on": disaster.closed_on.isoformat() if disaster.closed_on else None,
    }


def operation_snapshot(operation: Operation) -> dict[str, Any]:
    return {
        "code": operation.code,
        "name": operation.name,
        "display_order": operation.display_order,
        "end_date": operation.end_date.isoformat() if operation.end_date else None,
    }


def receiving_section_snapshot(section: ReceivingSection) -> dict[str, Any]:
    return {
        "operation": section.operation.code,
        "destination": section.destination.code,
        "destination_name": section.destination.name,
        "name": section.name,
    }


def organisation_snapshot(org: Organisation) -> dict[str, Any]:
    return {
        "code": org.code,
        "kind": org.kind,
        "name": org.name,
        "kana": org.kana,
        "prefecture": org.prefecture.code if org.prefecture else None,
        "active": org.active,
    }


def user_snapshot(user: User) -> dict[str, Any]:
    # Never the password hash: the trail is exported and read by people.
    return {
        "username": user.username,
        "display_name": user.display_name,
        "role": user.role,
        "organisation": user.organisation.code if user.organisation else None,
        "active": user.active,
    }


@dataclass(frozen=True)
class AuditFilter:
    actor: str | None = None
    date_from: date | None = None
    date_to: date | None = None
    object_type: str | None = None
    object_id: int | None = None
    disaster_id: int | None = None

    @property
    def reversed_range(self) -> bool:
        """The end before the start: no record can match, and the person must be told."""
        return self.date_from is not None and self.date_to is not None and self.date_to < self.date_from


def audit_select(flt: AuditFilter) -> Select[AuditRecord]:
    """Records newest first; dates are days in Japan, as people name them."""
    stmt = select(AuditRecord)
    if flt.actor:
        stmt = stmt.where(AuditRecord.actor == flt.actor)
    if flt.date_from:
        stmt = stmt.where(AuditRecord.at >= _start_of_day_utc(flt.date_from))
    if flt.date_to:
        stmt = stmt.where(AuditRecord.at < _start_of_day_utc(flt.date_to + timedelta(days=1)))
    if flt.object_type:
        stmt = stmt.where(AuditRecord.object_type == flt.object_type)
    if flt.object_id is not None:
        stmt = stmt.where(AuditRecord.object_id == flt.object_id)
    if flt.disaster_id is not None:
        stmt = stmt.where(AuditRecord.disaster_id == flt.disaster_id)
    return stmt.order_by(AuditRecord.at.desc(), AuditRecord.id.desc())


def _start_of_day_utc(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=ZoneInfo(TIME_ZONE))


ACTION_LABELS = {
    "create": "登録",
    "update": "変更",
    "delete": "削除",
    "restore": "復元",
    "close_day": "締め",
    "reopen_day": "締めの取消し",
    "password_change": "パスワード変更",
    "password_reset": "パスワード再設定",
    "resend": "再送",
    "end": "終了",
    "reopen": "再開",
    "deactivate": "無効化",
    "activate": "有効化",
    "revise": "改訂",
    "withdraw": "取下げ",
    "import": "取り込み",
    "link": "割当",
    "unlink": "割当の解除",
}

OBJECT_LABELS = {
    "entry": "派遣",
    "disaster": "災害",
    "operation": "派遣区分",
    "organisation": "団体",
    "receiving_section": "配属先",
    "user": "ユーザー",
    "closed_day": "締め",
    "recipient": "配信先",
    "delivery": "日報の配信",
    "request": "要請",
    "assignment": "応援の決定",
    "counterpart": "対口支援",
    "request_link": "要請への割当",
    "import": "取り込み",
}

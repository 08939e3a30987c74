"""The audit trail as people read it: each changed field by its Japanese label, codes as names, dates in 和暦.

Snapshots (audit.py) keep codes, and beside the codes of an entry or a recipient the names of the moment;
those names are what a change shows. A code stored without its name (an entry's operation, a user's
organisation) is looked up once for all the records a page or a chunk of an export shows.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import select

from .deliveries import STATUS_LABELS
from .extensions import db
from .models import AuditRecord, DeliveryStatus, Duty, Operation, Organisation, OrgKind, Role
from .wareki import WarekiError, format_long

ENTRY_FIELDS = {
    "date": "日付",
    "operation": "派遣区分",
    "sender": "派遣元",
    "sender_unit": "所属",
    "destination": "派遣先",
    "duty": "業務",
    "headcount": "人数",
    # The headcount typed for a key the roster holds (disagreements.py), beside the roster's.
    "typed_headcount": "入力の人数",
    "note": "備考",
}

# Per kind of object, its fields in the order they are shown.
FIELD_LABELS: dict[str, dict[str, str]] = {
    "entry": ENTRY_FIELDS,
    "user": {
        "username": "ユーザー名",
        "display_name": "表示名",
        "role": "権限",
        "organisation": "所属団体",
        "active": "状態",
    },
    "recipient": {
        "kind": "種別",
        "organisation": "団体",
        "email": "メールアドレス",
        "active": "配信",
        "send_empty": "派遣のない日",
        "note": "メモ",
    },
    # "closed": the flag records made before revision 0007 hold instead of a date.
    "disaster": {
        "slug": "識別名",
        "name": "災害名",
        "start_date": "発生日",
        "prefectures": "被災都道府県",
        "closed_on": "終了日",
        "closed": "状態",
    },
    "operation": {
        "code": "コード",
        "name": "派遣区分名",
        "display_order": "表示順",
        "end_date": "終了日",
        "closed": "状態",
    },
    "receiving_section": {"operation": "派遣区分", "destination": "派遣先", "name": "配属先"},
    "request_link": {"entry": "派遣", "request": "要請"},
    "organisation": {
        "code": "団体コード",
        "kind": "種別",
        "name": "団体名",
        "kana": "かな",
        "prefecture": "都道府県",
        "active": "状態",
    },
    "closed_day": {"date": "日付", "closed_by": "締めた人"},
    "delivery": {"status": "状態", "attempts": "試行回数", "last_error": "エラー"},
}

# The name a snapshot keeps beside a code: shown as that code's value, never as a field of its own.
NAME_BESIDE = {
    "sender": "sender_name",
    "destination": "destination_name",
    "duty": "duty_name",
    "organisation": "organisation_name",
}
ORGANISATION_FIELDS = frozenset({"sender", "destination", "organisation", "prefecture"})
DATE_FIELDS = frozenset({"date", "start_date", "end_date", "closed_on"})
# What True and False mean, field by field.
YES_NO = {
    "active": ("有効", "無効"),
    "closed": ("終了", "継続中"),
    "send_empty": ("送る", "送らない"),
}
NOTHING = "（なし）"


@dataclass(frozen=True)
class Change:
    """One field of a record that changed, as people read it: 「人数: 1 → 2」."""

    label: str
    before: str
    after: str

    def __str__(self) -> str:
        return f"{self.label}: {self.before} → {self.after}"


@dataclass
class Names:
    """Names of the codes some records hold without their names beside them."""

    organisations: dict[str, str]
    duties: dict[str, str]
    # (disaster id, operation code): operation codes are unique within a disaster only.
    operations: dict[tuple[int | None, str], str]

    @classmethod
    def of(cls, records: Iterable[AuditRecord]) -> Names:
        organisations: set[str] = set()
        duties: set[str] = set()
        operations: set[str] = set()
        for record in records:
            for snapshot in (record.before, record.after):
                for key, value in (snapshot or {}).items():
                    if not isinstance(value, str) or (snapshot or {}).get(NAME_BESIDE.get(key, "")):
                        continue
                    if key in ORGANISATION_FIELDS:
                        organisations.add(value)
                    elif key == "duty":
                        duties.add(value)
                    elif key == "operation" and record.object_type == "entry":
                        operations.add(value)
        return cls(_organisation_names(organisations), _duty_names(duties), _operation_names(operations))


def _organisation_names(codes: set[str]) -> dict[str, str]:
    if not codes:
        return {}
    stmt = select(Organisation.code, Organisation.name).where(Organisation.code.in_(codes))
    return {code: name for code, name in db.session.execute(stmt)}


def _duty_names(codes: set[str]) -> dict[str, str]:
    if not codes:
        return {}
    return {
        code: name
        for code, name in db.session.execute(select(Duty.code, Duty.name_ja).where(Duty.code.in_(codes)))
    }


def _operation_names(codes: set[str]) -> dict[tuple[int | None, str], str]:
    if not codes:
        return {}
    stmt = select(Operation.disaster_id, Operation.code, Operation.name).where(Operation.code.in_(codes))
    return {(disaster_id, code): name for disaster_id, code, name in db.session.execute(stmt)}


def describe(records: Sequence[AuditRecord]) -> dict[int, list[Change]]:
    """Each record's changed fields, by record id (none for a record that is not a change of values)."""
    names = Names.of(records)
    return {record.id: changes(record, names) for record in records}


def changes(record: AuditRecord, names: Names) -> list[Change]:
    before, after = record.before, record.after
    if not before or not after:
        return []
    labels = FIELD_LABELS.get(record.object_type, {})
    companions = set(NAME_BESIDE.values())
    keys = [*labels, *sorted((before.keys() | after.keys()) - labels.keys() - companions)]
    return [
        Change(
            labels.get(key, key),
            _shown(record, key, before, names),
            _shown(record, key, after, names),
        )
        for key in keys
        if before.get(key) != after.get(key)
    ]


def _shown(record: AuditRecord, key: str, snapshot: Mapping[str, Any], names: Names) -> str:
    value = snapshot.get(key)
    if value is None or value == "":
        return NOTHING
    if isinstance(value, bool):
        yes, no = YES_NO.get(key, ("はい", "いいえ"))
        return yes if value else no
    if isinstance(value, int):
        return f"{value:,}"
    text = str(value)
    named = snapshot.get(NAME_BESIDE.get(key, ""))
    if named:
        return str(named)
    return _named(record, key, text, names)


def _named(record: AuditRecord, key: str, text: str, names: Names) -> str:
    """A code's name where the field holds a code, a date in 和暦; otherwise the text as it is."""
    if key in ORGANISATION_FIELDS:
        return names.organisations.get(text, text)
    if key == "duty":
        return names.duties.get(text, text)
    if key == "operation" and record.object_type == "entry":
        return names.operations.get((record.disaster_id, text), text)
    if key in DATE_FIELDS:
        return _wareki(text)
    return _label_of(record.object_type, key, text)


def _wareki(text: str) -> str:
    try:
        return format_long(date.fromisoformat(text))
    except (ValueError, WarekiError):
        return text


KIND_LABELS = {"organisation": "団体", "division": "総合防災課"}


def _label_of(object_type: str, key: str, text: str) -> str:
    """The Japanese for a stored word: a role, a kind, a delivery's status."""
    try:
        if key == "role":
            return Role(text).label
        if key == "kind" and object_type == "recipient":
            return KIND_LABELS.get(text, text)
        if key == "kind":
            return OrgKind(text).label
        if key == "status" and object_type == "delivery":
            return STATUS_LABELS[DeliveryStatus(text)]
    except ValueError:
        pass
    return text

"""Write use cases for disasters and their operations (派遣区分): flush, never commit; every change audited.

A disaster has a name, a start date and the prefectures it struck (被災都道府県); it is closed on a date (終了:
no more entries, no more digests) and may be reopened. Its operations are added, renamed and put in the
order the report numbers them; each ends on a date (終了日), after which no entry may be dated, and may be
reopened. A receiving section (配属先) names where in one destination an operation's staff work.

What entries may be written against this state is checked by ``entry_problems`` (for each draft) and
``closed_problem`` (for the whole disaster), which entries.py calls on every way in.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import date

from sqlalchemy import func, select

from . import audit
from .actors import Actor
from .errors import Refusal
from .extensions import db
from .limits import MAX_SENDER_UNIT
from .models import Disaster, Entry, Operation, Organisation, OrgKind, ReceivingSection
from .wareki import format_long

SLUG_PATTERN = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")
MAX_NAME = 200


def create_disaster(
    slug: str, name: str, start_date: date, actor: Actor, prefectures: Sequence[Organisation] = ()
) -> Disaster:
    if not SLUG_PATTERN.fullmatch(slug):
        raise Refusal("識別子（slug）は半角英小文字・数字・ハイフンで入力してください。")
    name = _name(name, "災害名")
    if db.session.scalar(select(Disaster).where(Disaster.slug == slug)) is not None:
        raise Refusal(f"災害「{slug}」は登録済みです。")
    disaster = Disaster(slug=slug, name=name, start_date=start_date, prefectures=_prefectures(prefectures))
    db.session.add(disaster)
    db.session.flush()
    audit.record(
        "create",
        "disaster",
        disaster.id,
        actor=actor,
        disaster_id=disaster.id,
        after=audit.disaster_snapshot(disaster),
        summary=disaster.name,
    )
    return disaster


def update_disaster(
    disaster: Disaster, name: str, start_date: date, prefectures: Sequence[Organisation], actor: Actor
) -> Disaster:
    """Rename the disaster, move its start (never past its first entry) or change its affected prefectures."""
    before = audit.disaster_snapshot(disaster)
    first = _first_entry(disaster)
    if first is not None and start_date > first:
        raise Refusal(
            f"発生日を{format_long(start_date)}にはできません。{format_long(first)}の派遣が登録されています。"
        )
    disaster.name = _name(name, "災害名")
    disaster.start_date = start_date
    disaster.prefectures = _prefectures(prefectures)
    _audit_disaster("update", disaster, actor, before)
    return disaster


def close_disaster(disaster: Disaster, on: date, actor: Actor) -> Disaster:
    """終了: from now on the disaster takes no entries and sends no digests, until reopened. ``on`` is the
    date the response ended: not before the start, nor before the last entry."""
    if disaster.closed_on is not None:
        raise Refusal(f"災害「{disaster.name}」は{format_long(disaster.closed_on)}に終了しています。")
    if on < disaster.start_date:
        raise Refusal(f"終了日が発生日（{format_long(disaster.start_date)}）より前です。")
    last = _last_entry(disaster)
    if last is not None and on < last:
        raise Refusal(
            f"終了日を{format_long(on)}にはできません。{format_long(last)}までの派遣が登録されています。"
        )
    _set_end(disaster, on, actor)
    return disaster


def reopen_disaster(disaster: Disaster, actor: Actor) -> Disaster:
    if disaster.closed_on is None:
        raise Refusal(f"災害「{disaster.name}」は終了していません。")
    _set_end(disaster, None, actor)
    return disaster


def create_operation(
    disaster: Disaster, code: str, name: str, actor: Actor, display_order: int | None = None
) -> Operation:
    if not SLUG_PATTERN.fullmatch(code):
        raise Refusal("派遣区分のコードは半角英小文字・数字・ハイフンで入力してください。")
    name = _name(name, "派遣区分名")
    if any(op.code == code for op in disaster.operations):
        raise Refusal(f"派遣区分「{code}」は登録済みです。")
    if display_order is None:
        display_order = max((op.display_order for op in disaster.operations), default=0) + 1
    operation = Operation(disaster=disaster, code=code, name=name, display_order=display_order)
    db.session.add(operation)
    db.session.flush()
    audit.record(
        "create",
        "operation",
        operation.id,
        actor=actor,
        disaster_id=disaster.id,
        after=audit.operation_snapshot(operation),
        summary=operation.name,
    )
    return operation


def rename_operation(operation: Operation, name: str, actor: Actor) -> Operation:
    before = audit.operation_snapshot(operation)
    operation.name = _name(name, "派遣区分名")
    _audit_operation("update", operation, actor, before)
    return operation


def move_operation(operation: Operation, steps: int, actor: Actor) -> Operation:
    """Move an operation up (negative) or down the report's order; the operations are then numbered 1, 2, …
    and each one whose place changed is audited."""
    disaster = operation.disaster
    ordered = list(disaster.operations)
    index = ordered.index(operation)
    target = index + steps
    if not 0 <= target < len(ordered):
        raise Refusal(f"「{operation.name}」はこれ以上{'上' if steps < 0 else '下'}に移せません。")
    ordered.insert(target, ordered.pop(index))
    for number, op in enumerate(ordered, start=1):
        if op.display_order != number:
            before = audit.operation_snapshot(op)
            op.display_order = number
            _audit_operation("update", op, actor, before)
    db.session.flush()
    db.session.expire(disaster, ["operations"])
    return operation


def end_operation(operation: Operation, on: date, actor: Actor) -> Operation:
    """終了日: the report reads 「…から{on}まで」 from then on, and no entry may be dated after it."""
    if operation.end_date is not None:
        raise Refusal(f"派遣区分「{operation.name}」は{format_long(operation.end_date)}に終了しています。")
    start = operation.disaster.start_date
    if on < start:
        raise Refusal(f"終了日が災害の発生日（{format_long(start)}）より前です。")
    later = db.session.execute(
        select(func.count(), func.max(Entry.date)).where(Entry.operation_id == operation.id, Entry.date > on)
    ).one()
    if later[0]:
        raise Refusal(
            f"終了日を{format_long(on)}にはできません。その後の派遣が{later[0]}件"
            f"（最後は{format_long(later[1])}）登録されています。"
        )
    _set_end(operation, on, actor)
    return operation


def reopen_operation(operation: Operation, actor: Actor) -> Operation:
    if operation.end_date is None:
        raise Refusal(f"派遣区分「{operation.name}」は終了していません。")
    _set_end(operation, None, actor)
    return operation


def set_receiving_section(
    operation: Operation, destination: Organisation, name: str, actor: Actor
) -> ReceivingSection | None:
    """配属先 of the operation's staff at one destination; empty text removes it."""
    name = " ".join(name.split())
    if len(name) > MAX_SENDER_UNIT:
        raise Refusal(f"配属先は{MAX_SENDER_UNIT}文字以内で入力してください。")
    if destination.org_kind is OrgKind.WARD:
        raise Refusal(f"{destination.name}は区です。派遣先には市を選んでください。")
    section = db.session.scalar(
        select(ReceivingSection).where(
            ReceivingSection.operation_id == operation.id, ReceivingSection.destination_id == destination.id
        )
    )
    before = audit.receiving_section_snapshot(section) if section is not None else None
    if section is None and not name:
        raise Refusal(f"{destination.name}の配属先は登録されていません。")
    if section is None:
        section = ReceivingSection(operation=operation, destination=destination, name=name)
        db.session.add(section)
    elif name:
        section.name = name
    else:
        db.session.delete(section)
    db.session.flush()
    after = audit.receiving_section_snapshot(section) if name else None
    action = "create" if before is None else "update" if after is not None else "delete"
    audit.record(
        action,
        "receiving_section",
        section.id,
        actor=actor,
        disaster_id=operation.disaster_id,
        before=before,
        after=after,
        summary=f"{operation.name} {destination.name}（{name or 'なし'}）",
    )
    return section if name else None


def disasters_newest_first() -> list[Disaster]:
    return list(db.session.scalars(select(Disaster).order_by(Disaster.start_date.desc())))


# --- what entries may be written --------------------------------------------------------------------------


def entry_problems(
    operation: Operation, day: date, organisations: Sequence[Organisation], kept: Sequence[int] = ()
) -> list[str]:
    """Why an entry of the operation cannot be dated ``day`` or name these organisations, in Japanese:
    a date after the operation's end, a ward, a deactivated body (unless ``kept``: the ids an edited entry
    had already)."""
    problems = []
    if operation.end_date is not None and day > operation.end_date:
        problems.append(
            f"派遣区分「{operation.name}」は{format_long(operation.end_date)}で終了しています。"
            "それより後の日付は登録できません（終了日を変えるには派遣区分を再開してください）。"
        )
    for org in organisations:
        if org.kind == OrgKind.WARD.value:
            problems.append(f"{org.name}は区です。団体には市を、所属に区の名前を入力してください。")
        elif not org.active and org.id not in kept:
            problems.append(f"{org.name}は無効になった団体です。新しい派遣には使えません。")
    return problems


def closed_problem(disaster: Disaster) -> str | None:
    """Why no entry of the disaster may be written or changed: it is closed (終了)."""
    if disaster.closed_on is None:
        return None
    return (
        f"災害「{disaster.name}」は{format_long(disaster.closed_on)}に終了しています。"
        "派遣を登録・変更するには、災害を再開してください。"
    )


# --- helpers ----------------------------------------------------------------------------------------------


def _name(text: str, label: str) -> str:
    name = " ".join(text.split())
    if not name:
        raise Refusal(f"{label}を入力してください。")
    if len(name) > MAX_NAME:
        raise Refusal(f"{label}は{MAX_NAME}文字以内で入力してください。")
    return name


def _prefectures(prefectures: Sequence[Organisation]) -> list[Organisation]:
    wrong = [p.name for p in prefectures if p.org_kind is not OrgKind.PREFECTURE]
    if wrong:
        raise Refusal(f"被災都道府県には都道府県を選んでください（{'、'.join(wrong)}）。")
    return sorted({p.id: p for p in prefectures}.values(), key=lambda p: p.code)


def _first_entry(disaster: Disaster) -> date | None:
    return db.session.scalar(
        select(func.min(Entry.date))
        .join(Operation, Entry.operation_id == Operation.id)
        .where(Operation.disaster_id == disaster.id)
    )


def _last_entry(disaster: Disaster) -> date | None:
    return db.session.scalar(
        select(func.max(Entry.date))
        .join(Operation, Entry.operation_id == Operation.id)
        .where(Operation.disaster_id == disaster.id)
    )


def _set_end(item: Disaster | Operation, on: date | None, actor: Actor) -> None:
    """The date a disaster (closed_on) or an operation (end_date) ended: set on 終了, cleared (None) on 再開,
    and audited as "end" or "reopen". The callers have refused what may not be ended or reopened."""
    action = "reopen" if on is None else "end"
    if isinstance(item, Disaster):
        before = audit.disaster_snapshot(item)
        item.closed_on = on
        _audit_disaster(action, item, actor, before)
    else:
        before = audit.operation_snapshot(item)
        item.end_date = on
        _audit_operation(action, item, actor, before)


def _audit_disaster(action: str, disaster: Disaster, actor: Actor, before: dict[str, object]) -> None:
    db.session.flush()
    after = audit.disaster_snapshot(disaster)
    if after != before:
        audit.record(
            action,
            "disaster",
            disaster.id,
            actor=actor,
            disaster_id=disaster.id,
            before=before,
            after=after,
            summary=disaster.name,
        )


def _audit_operation(action: str, operation: Operation, actor: Actor, before: dict[str, object]) -> None:
    db.session.flush()
    after = audit.operation_snapshot(operation)
    if after != before:
        audit.record(
            action,
            "operation",
            operation.id,
            actor=actor,
            disaster_id=operation.disaster_id,
            before=before,
            after=after,
            summary=operation.name,
        )

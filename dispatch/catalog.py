"""Write use cases for disasters and their operations (派遣区分): flush, never commit."""

from __future__ import annotations

import re
from datetime import date

from sqlalchemy import select

from . import audit
from .actors import Actor
from .errors import Refusal
from .extensions import db
from .models import Disaster, Operation

SLUG_PATTERN = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")


def create_disaster(slug: str, name: str, start_date: date, actor: Actor) -> Disaster:
    if not SLUG_PATTERN.fullmatch(slug):
        raise Refusal("識別子（slug）は半角英小文字・数字・ハイフンで入力してください。")
    if not name.strip():
        raise Refusal("災害名を入力してください。")
    if db.session.scalar(select(Disaster).where(Disaster.slug == slug)) is not None:
        raise Refusal(f"災害「{slug}」は登録済みです。")
    disaster = Disaster(slug=slug, name=name.strip(), start_date=start_date)
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


def create_operation(
    disaster: Disaster, code: str, name: str, actor: Actor, display_order: int | None = None
) -> Operation:
    if not SLUG_PATTERN.fullmatch(code):
        raise Refusal("派遣区分のコードは半角英小文字・数字・ハイフンで入力してください。")
    if not name.strip():
        raise Refusal("派遣区分名を入力してください。")
    if any(op.code == code for op in disaster.operations):
        raise Refusal(f"派遣区分「{code}」は登録済みです。")
    if display_order is None:
        display_order = max((op.display_order for op in disaster.operations), default=0) + 1
    operation = Operation(disaster=disaster, code=code, name=name.strip(), display_order=display_order)
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


def disasters_newest_first() -> list[Disaster]:
    return list(db.session.scalars(select(Disaster).order_by(Disaster.start_date.desc())))

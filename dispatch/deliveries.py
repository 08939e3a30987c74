"""The record of deliveries as people read it: the deliveries page, the banner of failures nobody has
acknowledged yet, and acknowledging them. Sending and retrying are delivery.py's."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from sqlalchemy import Select, func, select

from .actors import Actor
from .extensions import db
from .models import Delivery, DeliveryStatus, Recipient, utcnow

STATUS_LABELS = {
    DeliveryStatus.SENT: "送信済み",
    DeliveryStatus.FAILED: "失敗",
    DeliveryStatus.SENDING: "送信中",
}


def _count(stmt: Select[Delivery]) -> int:
    return db.session.scalar(select(func.count()).select_from(stmt.subquery())) or 0


def delivery_list(day: date | None, status: str | None, limit: int) -> tuple[int, list[Delivery]]:
    """How many deliveries match, and the newest `limit` of them."""
    stmt = select(Delivery).join(Recipient, Delivery.recipient_id == Recipient.id)
    if day is not None:
        stmt = stmt.where(Delivery.digest_date == day)
    if status:
        stmt = stmt.where(Delivery.status == status)
    newest = stmt.order_by(Delivery.digest_date.desc(), Delivery.claimed_at.desc(), Delivery.id.desc())
    return _count(stmt), list(db.session.scalars(newest.limit(limit)))


def deliveries_of(recipient: Recipient) -> int:
    return (
        db.session.scalar(select(func.count(Delivery.id)).where(Delivery.recipient_id == recipient.id)) or 0
    )


def _unacknowledged() -> Select[Delivery]:
    return select(Delivery).where(
        Delivery.status == DeliveryStatus.FAILED.value, Delivery.acknowledged_at.is_(None)
    )


def unacknowledged_failures(limit: int) -> tuple[int, list[Delivery]]:
    """Failed digests nobody has acknowledged yet: how many, and the newest `limit`."""
    stmt = _unacknowledged()
    if not (total := _count(stmt)):
        return 0, []
    newest = stmt.order_by(Delivery.digest_date.desc(), Delivery.id).limit(limit)
    return total, list(db.session.scalars(newest))


def acknowledge_failures(ids: Sequence[int], actor: Actor) -> int:
    """Mark exactly these failures as seen (a newer failure keeps the banner up); how many were marked."""
    if not ids:
        return 0
    rows = list(db.session.scalars(_unacknowledged().where(Delivery.id.in_(ids))))
    now = utcnow()
    for row in rows:
        row.acknowledged_at = now
        row.acknowledged_by = actor.name
    return len(rows)

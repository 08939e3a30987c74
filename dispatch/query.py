"""Which entries a page, a total or an export is about: one filter shape shared by all of them.

A figure on the totals page links to the entry list with the same filter, so the entries behind a
number are always exactly the ones it sums.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from datetime import date
from typing import Any

from sqlalchemy import Select, or_, select
from sqlalchemy.orm import aliased

from .models import Disaster, Duty, Entry, Operation, Organisation

Sender = aliased(Organisation, name="sender_org")
Destination = aliased(Organisation, name="destination_org")


@dataclass(frozen=True)
class EntryFilter:
    """Codes, not ids, so that a filter reads the same in a URL, the CLI and a test."""

    date_from: date | None = None
    date_to: date | None = None
    operation: str | None = None
    sender: str | None = None
    destination: str | None = None
    duty: str | None = None
    # A municipality user's organisation: only entries it sent or received. Never taken from a URL.
    visible_to: int | None = None

    def as_params(self) -> dict[str, str]:
        params = {}
        for field in fields(self):
            if field.name == "visible_to":
                continue
            value = getattr(self, field.name)
            if value is not None and value != "":
                params[field.name] = value.isoformat() if isinstance(value, date) else str(value)
        return params

    def narrowed(self, **changes: Any) -> EntryFilter:
        return replace(self, **changes)


def apply_filter(stmt: Select[Any], disaster: Disaster, flt: EntryFilter) -> Select[Any]:
    """Restrict a statement over Entry (joined to Operation, Sender, Destination, Duty) to the filter."""
    stmt = stmt.where(Operation.disaster_id == disaster.id)
    if flt.date_from is not None:
        stmt = stmt.where(Entry.date >= flt.date_from)
    if flt.date_to is not None:
        stmt = stmt.where(Entry.date <= flt.date_to)
    if flt.operation:
        stmt = stmt.where(Operation.code == flt.operation)
    if flt.sender:
        stmt = stmt.where(Sender.code == flt.sender)
    if flt.destination:
        stmt = stmt.where(Destination.code == flt.destination)
    if flt.duty:
        stmt = stmt.where(Duty.code == flt.duty)
    if flt.visible_to is not None:
        stmt = stmt.where(or_(Entry.sender_id == flt.visible_to, Entry.destination_id == flt.visible_to))
    return stmt


def joined(stmt: Select[Any]) -> Select[Any]:
    return (
        stmt.join(Operation, Entry.operation_id == Operation.id)
        .join(Sender, Entry.sender_id == Sender.id)
        .join(Destination, Entry.destination_id == Destination.id)
        .join(Duty, Entry.duty_id == Duty.id)
    )


def entries_select(disaster: Disaster, flt: EntryFilter) -> Select[Any]:
    """Entries in list order: newest date first, then operation, destination, sender."""
    stmt = apply_filter(joined(select(Entry)), disaster, flt)
    return stmt.order_by(Entry.date.desc(), Operation.display_order, Destination.code, Sender.code, Entry.id)

"""Which entries a page, a total or an export is about: one filter shape shared by all of them.

A figure on the totals page links to the entry list with the same filter, so the entries behind a
number are always exactly the ones it sums.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from datetime import date
from typing import Any, TypeVarTuple

from sqlalchemy import Select, false, func, or_, select
from sqlalchemy.orm import aliased

from .extensions import db
from .models import Disaster, Duty, Entry, Operation, Organisation

# The column types of a statement that a helper narrows or joins and hands back unchanged.
Columns = TypeVarTuple("Columns")

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
    # The audit record of an import: only the entries it wrote (where an import lands).
    imported: int | None = None
    # A municipality user's organisation: only entries it sent or received. Never taken from a URL.
    visible_to: int | None = None

    @property
    def reversed_range(self) -> bool:
        """The end before the start: no entry can match, and the person must be told (QueryArgs.date_range)."""
        return self.date_from is not None and self.date_to is not None and self.date_to < self.date_from

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


def apply_filter(stmt: Select[*Columns], disaster: Disaster, flt: EntryFilter) -> Select[*Columns]:
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
    if flt.imported is not None:
        from .import_writing import imported_ids

        ranges = imported_ids(flt.imported)
        stmt = stmt.where(or_(false(), *(Entry.id.between(first, last) for first, last in ranges)))
    return stmt


def joined(stmt: Select[*Columns]) -> Select[*Columns]:
    return (
        stmt.join(Operation, Entry.operation_id == Operation.id)
        .join(Sender, Entry.sender_id == Sender.id)
        .join(Destination, Entry.destination_id == Destination.id)
        .join(Duty, Entry.duty_id == Duty.id)
    )


def entries_select(disaster: Disaster, flt: EntryFilter) -> Select[Entry]:
    """Entries in list order: newest date first, then operation, destination, sender."""
    stmt = apply_filter(joined(select(Entry)), disaster, flt)
    return stmt.order_by(Entry.date.desc(), Operation.display_order, Destination.code, Sender.code, Entry.id)


def entries_summary(disaster: Disaster, flt: EntryFilter) -> tuple[int, int]:
    """How many entries the filter keeps and their person-days, in one statement."""
    stmt = apply_filter(
        joined(select(func.count(Entry.id), func.coalesce(func.sum(Entry.headcount), 0))), disaster, flt
    )
    count, person_days = db.session.execute(stmt).one()
    return int(count), int(person_days)


def day_summaries(disaster: Disaster, date_to: date | None = None) -> list[tuple[date, int, int]]:
    """Each date with entries (up to ``date_to`` when given): how many and their person-days, newest first
    (the closing page)."""
    stmt = (
        apply_filter(
            joined(select(Entry.date, func.count(Entry.id), func.sum(Entry.headcount))),
            disaster,
            EntryFilter(date_to=date_to),
        )
        .group_by(Entry.date)
        .order_by(Entry.date.desc())
    )
    return [(day, int(n), int(pd)) for day, n, pd in db.session.execute(stmt)]

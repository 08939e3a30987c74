"""Which entries a page, a total or an export is about: one filter shape shared by all of them.

A figure on the totals page links to the entry list with the same filter, so the entries behind a
number are always exactly the ones it sums.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from datetime import date
from typing import Any, TypeVarTuple

from sqlalchemy import Select, false, func, literal, or_, select, union_all
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
    """Restrict a statement over Entry (joined to Operation, Sender, Destination, Duty) to the filter.

    Codes are turned into ids first and compared with the entry's own columns: the planner then sees the
    very id (PostgreSQL reads its statistics for it, 218,103 rows for the busiest destination rather than
    the average 510) and needs no join to filter, only to name."""
    stmt = stmt.where(Operation.disaster_id == disaster.id)
    if flt.date_from is not None:
        stmt = stmt.where(Entry.date >= flt.date_from)
    if flt.date_to is not None:
        stmt = stmt.where(Entry.date <= flt.date_to)
    ids = _ids_of(disaster, flt)
    if flt.operation:
        stmt = stmt.where(Entry.operation_id == ids.get(("operation", flt.operation), NO_ID))
    if flt.sender:
        stmt = stmt.where(Entry.sender_id == ids.get(("organisation", flt.sender), NO_ID))
    if flt.destination:
        stmt = stmt.where(Entry.destination_id == ids.get(("organisation", flt.destination), NO_ID))
    if flt.duty:
        stmt = stmt.where(Entry.duty_id == ids.get(("duty", flt.duty), NO_ID))
    if flt.visible_to is not None:
        stmt = stmt.where(or_(Entry.sender_id == flt.visible_to, Entry.destination_id == flt.visible_to))
    if flt.imported is not None:
        from .import_writing import imported_ids

        ranges = imported_ids(flt.imported)
        stmt = stmt.where(or_(false(), *(Entry.id.between(first, last) for first, last in ranges)))
    return stmt


# No row has this id: a code that names nothing keeps no entry.
NO_ID = 0


def _ids_of(disaster: Disaster, flt: EntryFilter) -> dict[tuple[str, str], int]:
    """The ids behind the filter's codes, in one statement (none when the filter names no code)."""
    parts = []
    if flt.operation:
        parts.append(
            select(literal("operation"), Operation.code, Operation.id).where(
                Operation.disaster_id == disaster.id, Operation.code == flt.operation
            )
        )
    organisations = [code for code in (flt.sender, flt.destination) if code]
    if organisations:
        parts.append(
            select(literal("organisation"), Organisation.code, Organisation.id).where(
                Organisation.code.in_(organisations)
            )
        )
    if flt.duty:
        parts.append(select(literal("duty"), Duty.code, Duty.id).where(Duty.code == flt.duty))
    if not parts:
        return {}
    statement = parts[0] if len(parts) == 1 else union_all(*parts)
    return {(kind, code): id_ for kind, code, id_ in db.session.execute(statement)}


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
    # Only the operation is joined (it names the disaster): the filter compares the entry's own ids, and
    # COUNT(*) rather than of the id lets the destination's or sender's index answer alone (models.Entry).
    stmt = apply_filter(
        select(func.count(), func.coalesce(func.sum(Entry.headcount), 0)).join(
            Operation, Entry.operation_id == Operation.id
        ),
        disaster,
        flt,
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

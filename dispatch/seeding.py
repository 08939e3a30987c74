"""The founding case written into the database as disaster akita-2023-rain (`flask seed-demo`)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

from . import demo
from .actors import DEMO_ACTOR, Actor
from .catalog import create_disaster, create_operation
from .entries import EntryDraft, entry_ids, log_entries
from .extensions import db
from .models import Disaster, Duty, Organisation


@dataclass(frozen=True)
class SeedResult:
    disaster: Disaster
    added_entries: int
    added_person_days: int


def seed_founding_case(actor: Actor = DEMO_ACTOR) -> SeedResult:
    """The founding case (DOMAIN.md) as disaster akita-2023-rain; adds only what is missing."""
    disaster = db.session.scalar(select(Disaster).where(Disaster.slug == demo.DISASTER_SLUG))
    if disaster is None:
        disaster = create_disaster(demo.DISASTER_SLUG, demo.DISASTER_NAME, demo.DISASTER_START, actor)
    operations = {op.code: op for op in disaster.operations}
    for spec in demo.OPERATIONS:
        if spec.code not in operations:
            # Only a new operation takes the demo's open/closed state; a user's later change stays.
            op = create_operation(disaster, spec.code, spec.name, actor, spec.display_order)
            op.closed = spec.closed
            operations[spec.code] = op
    orgs = {o.code: o for o in db.session.scalars(select(Organisation))}
    duties = {d.code: d for d in db.session.scalars(select(Duty))}
    drafts = [
        EntryDraft(
            date=e.date,
            operation=operations[e.operation],
            sender=orgs[e.sender],
            sender_unit=e.sender_unit,
            destination=orgs[e.destination],
            duty=duties[e.duty],
            headcount=e.headcount,
        )
        for e in demo.founding_case_entries()
    ]
    existing = entry_ids(d.key for d in drafts)
    missing = [d for d in drafts if d.key not in existing]
    log_entries(missing, actor)
    return SeedResult(disaster, len(missing), sum(d.headcount for d in missing))

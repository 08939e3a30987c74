"""The demo written into the database (`flask seed-demo`): the founding case as disaster akita-2023-rain,
and an invented disaster seen from a sending prefecture as noto-2024-drill. Each adds only what is missing."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from sqlalchemy import select

from . import demo, demo_sending
from .actors import DEMO_ACTOR, Actor
from .catalog import create_disaster, create_operation, end_operation, set_receiving_section
from .demo import DemoEntry, DemoOperation
from .entries import EntryDraft, entry_ids, log_entries
from .extensions import db
from .models import Disaster, Duty, Operation, Organisation, OrgKind, ReceivingSection
from .organisations import add_body


@dataclass(frozen=True)
class SeedResult:
    disaster: Disaster
    added_entries: int
    added_person_days: int


@dataclass(frozen=True)
class _Case:
    slug: str
    name: str
    start: date
    prefectures: Sequence[str]
    operations: Sequence[DemoOperation]
    sections: Sequence[tuple[str, str, str]]


def seed_founding_case(actor: Actor = DEMO_ACTOR) -> SeedResult:
    """The founding case (DOMAIN.md) as disaster akita-2023-rain; adds only what is missing."""
    case = _Case(
        demo.DISASTER_SLUG,
        demo.DISASTER_NAME,
        demo.DISASTER_START,
        demo.AFFECTED_PREFECTURES,
        demo.OPERATIONS,
        demo.RECEIVING_SECTIONS,
    )
    return _seed(case, demo.founding_case_entries(), actor)


def seed_sending_case(actor: Actor = DEMO_ACTOR) -> SeedResult:
    """The invented disaster seen from a sending prefecture (demo_sending.py) as noto-2024-drill, with the
    other body it names registered when it is missing."""
    if _organisation_named(demo_sending.NATIONAL_AGENCY) is None:
        add_body(demo_sending.NATIONAL_AGENCY, actor, kana=demo_sending.NATIONAL_AGENCY_KANA)
    case = _Case(
        demo_sending.DISASTER_SLUG,
        demo_sending.DISASTER_NAME,
        demo_sending.DISASTER_START,
        demo_sending.AFFECTED_PREFECTURES,
        demo_sending.OPERATIONS,
        demo_sending.RECEIVING_SECTIONS,
    )
    return _seed(case, demo_sending.sending_case_entries(), actor)


def _seed(case: _Case, rows: list[DemoEntry], actor: Actor) -> SeedResult:
    orgs = {o.code: o for o in db.session.scalars(select(Organisation))}
    # Other bodies are named by name in the demo's rows: their codes are whatever they got when registered.
    orgs.update((o.name, o) for o in list(orgs.values()) if o.kind == OrgKind.OTHER.value)
    disaster = db.session.scalar(select(Disaster).where(Disaster.slug == case.slug))
    if disaster is None:
        prefectures = [orgs[code] for code in case.prefectures]
        disaster = create_disaster(case.slug, case.name, case.start, actor, prefectures)
    operations = {op.code: op for op in disaster.operations}
    for spec in case.operations:
        if spec.code not in operations:
            # Only a new operation takes the demo's end date; a user's later change stays.
            op = create_operation(disaster, spec.code, spec.name, actor, spec.display_order)
            if spec.end_date is not None:
                end_operation(op, spec.end_date, actor)
            operations[spec.code] = op
    _seed_sections(operations, orgs, case.sections, actor)
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
        for e in rows
    ]
    existing = entry_ids(d.key for d in drafts)
    missing = [d for d in drafts if d.key not in existing]
    log_entries(missing, actor)
    return SeedResult(disaster, len(missing), sum(d.headcount for d in missing))


def _seed_sections(
    operations: dict[str, Operation],
    orgs: dict[str, Organisation],
    sections: Sequence[tuple[str, str, str]],
    actor: Actor,
) -> None:
    for code, destination, name in sections:
        operation = operations[code]
        have = db.session.scalar(
            select(ReceivingSection.id).where(
                ReceivingSection.operation_id == operation.id,
                ReceivingSection.destination_id == orgs[destination].id,
            )
        )
        if have is None:
            set_receiving_section(operation, orgs[destination], name, actor)


def _organisation_named(name: str) -> Organisation | None:
    return db.session.scalar(
        select(Organisation).where(Organisation.name == name, Organisation.kind == OrgKind.OTHER.value)
    )

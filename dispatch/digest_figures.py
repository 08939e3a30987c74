"""The figures of the morning digests, read once for every organisation (digest.py renders them).

A digest dated D covers Y = D − 1: figures as of Y, and the entries already logged for D. A run of a
thousand digests builds every one of them from the same figures: one pass each over the entries dated Y
and D, every organisation's totals as of Y from the tally, and the changes to closed days since the
earliest digest's `since`.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from flask import current_app
from sqlalchemy import func, select

from .closing import closed_dates
from .extensions import db
from .field import ending_line, ending_soon
from .fill import fill_on
from .models import AuditRecord, Delivery, DeliveryStatus, Disaster, Duty, Entry, Organisation, Recipient
from .persons import Window, has_roster, with_persons
from .query import Destination, EntryFilter, Sender, apply_filter, joined
from .totals import Dimension, TotalRow, headline, totals


@dataclass(frozen=True)
class Flow:
    """Staff on one day between the organisation and one counterpart (sender or destination), one duty."""

    counterpart: str
    duty: str
    headcount: int


@dataclass(frozen=True)
class ClosedDayChange:
    at: datetime
    actor: str
    summary: str
    reason: str


@dataclass(frozen=True)
class Gap:
    """A destination × duty short of staff on Y: fewer on duty than its requests asked for (fill.py)."""

    destination_code: str
    destination: str
    duty: str
    requested: int
    on_duty: int
    # What is missing, each request's own gap where several share the row (fill.py): may exceed requested
    # less on duty when one request is over-filled and its neighbour short.
    unfilled: int


@dataclass(frozen=True)
class OrganisationSection:
    """One open disaster as it concerns one organisation, as of Y."""

    disaster: str
    link: str
    closed: bool
    received: list[Flow]
    received_total: int
    sent: list[Flow]
    sent_total: int
    today_received: int
    today_sent: int
    today_entries: int
    changes: list[ClosedDayChange]
    gaps: tuple[Gap, ...] = ()  # its own requests short on Y

    @property
    def received_on_day(self) -> int:
        return sum(f.headcount for f in self.received)

    @property
    def sent_on_day(self) -> int:
        return sum(f.headcount for f in self.sent)

    @property
    def has_news(self) -> bool:
        return bool(self.received or self.sent or self.today_entries or self.changes or self.gaps)


@dataclass(frozen=True)
class OrganisationDigest:
    organisation: str
    code: str
    digest_date: date
    as_of: date
    sections: list[OrganisationSection]
    home: str


@dataclass(frozen=True)
class DivisionSection:
    """One open disaster as a whole, as of Y."""

    disaster: str
    link: str
    closed: bool
    person_days: int
    active: int
    by_operation: list[TotalRow]
    by_destination: list[TotalRow]
    today_headcount: int
    today_entries: int
    changes: list[ClosedDayChange]
    gaps: tuple[Gap, ...] = ()  # every destination × duty short on Y
    # Where the named roster covers the whole (persons.py), and teams ending soon with no successor.
    persons: int | None = None
    ending: list[str] = field(default_factory=list)

    @property
    def has_news(self) -> bool:
        return bool(self.active or self.today_entries or self.changes or self.gaps or self.ending)


@dataclass(frozen=True)
class FailedDigest:
    email: str
    addressee: str
    error: str


@dataclass(frozen=True)
class DivisionDigest:
    digest_date: date
    as_of: date
    sections: list[DivisionSection]
    failures: list[FailedDigest]
    home: str


def failed_digests(digest_date: date) -> list[FailedDigest]:
    """Digests dated `digest_date` that have not gone out, with the error each one keeps."""
    stmt = (
        select(Recipient.email, Organisation.name, Delivery.last_error)
        .join(Delivery.recipient)
        .outerjoin(Organisation, Recipient.organisation_id == Organisation.id)
        .where(Delivery.digest_date == digest_date, Delivery.status == DeliveryStatus.FAILED)
        .order_by(Organisation.code, Recipient.email)
    )
    return [
        FailedDigest(email=email, addressee=name or "総合防災課", error=error)
        for email, name, error in db.session.execute(stmt)
    ]


class DigestFigures:
    """Every open disaster's figures for the digests dated `digest_date`, for all organisations at once.

    Read once, however many digests are built from them: one pass each over the entries dated Y and D,
    every organisation's totals as of Y from the tally, and the changes to closed days since the earliest
    `since` asked for (`earliest_since`, when the caller knows it, saves reading them again). A run of a
    thousand digests costs a dozen statements rather than a dozen per digest; a single digest (a preview)
    reads the same, which stays a fraction of a page's time at national scale.
    """

    def __init__(self, digest_date: date, *, earliest_since: datetime | None = None) -> None:
        self.digest_date = digest_date
        self.as_of = digest_date - timedelta(days=1)
        self.home = _base_url() + "/"
        self._earliest_since = earliest_since
        self._disasters: list[_DisasterFigures] | None = None
        self._division: list[tuple[int, DivisionSection]] | None = None
        self._failures: list[FailedDigest] | None = None
        self._changes: dict[int, list[_Change]] = {}
        self._changes_since: datetime | None = None

    def organisation_digest(
        self, code: str, name: str, *, since: datetime, include_empty: bool = False
    ) -> OrganisationDigest | None:
        sections = [
            figures.organisation_section(code, self._changes_of(figures.id, since, code))
            for figures in self._open_disasters()
            if figures.took_part(code)
        ]
        shown = [s for s in sections if s.has_news]
        if not shown and not include_empty:
            return None
        return OrganisationDigest(
            organisation=name,
            code=code,
            digest_date=self.digest_date,
            as_of=self.as_of,
            sections=shown or sections,
            home=self.home,
        )

    def division_digest(self, *, since: datetime, include_empty: bool = False) -> DivisionDigest | None:
        if self._division is None:
            self._division = [
                (figures.id, figures.division_section())
                for figures in self._open_disasters()
                if figures.any_entry
            ]
        sections = [replace(section, changes=self._changes_of(key, since)) for key, section in self._division]
        if self._failures is None:
            self._failures = failed_digests(self.as_of)
        if not self._failures and not any(s.has_news for s in sections) and not include_empty:
            return None
        return DivisionDigest(
            digest_date=self.digest_date,
            as_of=self.as_of,
            sections=sections,
            failures=self._failures,
            home=self.home,
        )

    def _open_disasters(self) -> list[_DisasterFigures]:
        if self._disasters is None:
            self._disasters = [_DisasterFigures.read(d, self.digest_date) for d in _open_disasters()]
        return self._disasters

    def _changes_of(
        self, disaster_id: int, since: datetime, code: str | None = None
    ) -> list[ClosedDayChange]:
        """Changes to the disaster's closed days recorded after `since`, oldest first; for an organisation,
        those to entries it sent or received and those to whole days (a day reopened touches every figure)."""
        if self._changes_since is None or since < self._changes_since:
            earliest = min(since, self._earliest_since or since)
            self._changes = _closed_day_changes(earliest)
            self._changes_since = earliest
        return [
            c.change
            for c in self._changes.get(disaster_id, [])
            if c.change.at > since and (code is None or c.concerns(code))
        ]


def _open_disasters() -> list[Disaster]:
    """The disasters the digests report: a closed one (終了) sends no more digests until it is reopened."""
    return list(
        db.session.scalars(
            select(Disaster).where(Disaster.closed_on.is_(None)).order_by(Disaster.start_date, Disaster.id)
        )
    )


@dataclass(frozen=True)
class _Logged:
    """Entries already logged for D, by organisation code and for the whole disaster."""

    received: Counter[str]  # headcount, by destination
    sent: Counter[str]  # headcount, by sender
    entries: Counter[str]  # entries the organisation sent or received
    total_entries: int
    total_headcount: int


@dataclass(frozen=True)
class _DisasterFigures:
    """One open disaster's figures for a digest date, for every organisation; plain values only, since the
    ORM objects they came from expire at each commit of a run."""

    id: int
    name: str
    link: str
    closed: bool  # Y is closed (確定)
    as_of: date
    by_destination: list[TotalRow]  # as of Y, also the division's list
    received_total: dict[str, int]  # person-days as of Y, by destination code
    sent_total: dict[str, int]  # by sender code
    received: dict[str, list[Flow]]  # flows on Y, by destination code
    sent: dict[str, list[Flow]]  # by sender code
    logged: _Logged
    gaps: tuple[Gap, ...]  # on Y, every destination's

    @classmethod
    def read(cls, disaster: Disaster, digest_date: date) -> _DisasterFigures:
        as_of = digest_date - timedelta(days=1)
        by_destination = totals(disaster, as_of, Dimension.DESTINATION).rows
        received, sent = _flows_on(disaster, as_of)
        return cls(
            id=disaster.id,
            name=disaster.name,
            link=_dashboard_link(disaster, as_of),
            closed=as_of in closed_dates(disaster, [as_of]),
            as_of=as_of,
            by_destination=by_destination,
            received_total={r.key: r.person_days for r in by_destination},
            sent_total={r.key: r.person_days for r in totals(disaster, as_of, Dimension.SENDER).rows},
            received=received,
            sent=sent,
            logged=_logged_on(disaster, digest_date),
            gaps=tuple(
                Gap(r.destination, r.destination_name, r.duty_name, r.requested, r.on_duty, r.unfilled)
                for r in fill_on(disaster, as_of).gaps
            ),
        )

    @property
    def any_entry(self) -> bool:
        """Whether the disaster has an entry dated on or before D."""
        return bool(self.received_total or self.logged.total_entries or self.gaps)

    def took_part(self, code: str) -> bool:
        """Whether the organisation sent or received anyone on or before D."""
        return bool(
            self.received_total.get(code)
            or self.sent_total.get(code)
            or self.logged.entries[code]
            or self._gaps_of(code)
        )

    def _gaps_of(self, code: str) -> tuple[Gap, ...]:
        return tuple(g for g in self.gaps if g.destination_code == code)

    def organisation_section(self, code: str, changes: list[ClosedDayChange]) -> OrganisationSection:
        return OrganisationSection(
            disaster=self.name,
            link=self.link,
            closed=self.closed,
            received=self.received.get(code, []),
            received_total=self.received_total.get(code, 0),
            sent=self.sent.get(code, []),
            sent_total=self.sent_total.get(code, 0),
            today_received=self.logged.received[code],
            today_sent=self.logged.sent[code],
            today_entries=self.logged.entries[code],
            changes=changes,
            gaps=self._gaps_of(code),
        )

    def division_section(self) -> DivisionSection:
        """The division's section without its changes, which depend on the addressee's `since`."""
        disaster = db.session.get_one(Disaster, self.id)
        person_days, active = headline(disaster, self.as_of)
        by_operation = totals(disaster, self.as_of, Dimension.OPERATION)
        persons, ending = None, []
        if has_roster(disaster.id):
            persons = with_persons(disaster, by_operation, Window(self.as_of)).persons
            ending = [ending_line(t) for t in ending_soon(disaster, self.as_of, None)]
        return DivisionSection(
            disaster=self.name,
            link=self.link,
            closed=self.closed,
            person_days=person_days,
            active=active,
            by_operation=_in_report_order(disaster, by_operation.rows),
            by_destination=self.by_destination,
            today_headcount=self.logged.total_headcount,
            today_entries=self.logged.total_entries,
            changes=[],
            gaps=self.gaps,
            persons=persons,
            ending=ending,
        )


def _in_report_order(disaster: Disaster, rows: list[TotalRow]) -> list[TotalRow]:
    order = {op.code: n for n, op in enumerate(disaster.operations)}
    return sorted(rows, key=lambda r: order.get(r.key, len(order)))


def _flows_on(disaster: Disaster, day: date) -> tuple[dict[str, list[Flow]], dict[str, list[Flow]]]:
    """Headcount on the day by counterpart and duty, biggest first, for every destination (received,
    counterpart the sender named with its unit: 秋田県（建設部）) and every sender (sent, the destination)."""
    columns = (
        Sender.code,
        Sender.name,
        Entry.sender_unit,
        Destination.code,
        Destination.name,
        Duty.code,
        Duty.name_ja,
    )
    stmt = apply_filter(
        joined(select(*columns, func.sum(Entry.headcount))), disaster, EntryFilter(date_from=day, date_to=day)
    ).group_by(*columns)
    received: dict[str, list[tuple[tuple[Any, ...], Flow]]] = defaultdict(list)
    sent: dict[str, Counter[tuple[str, str, str, str]]] = defaultdict(Counter)
    for (
        sender,
        sender_name,
        unit,
        destination,
        destination_name,
        duty,
        duty_name,
        total,
    ) in db.session.execute(stmt):
        headcount = int(total)
        counterpart = f"{sender_name}（{unit}）" if unit else sender_name
        received[destination].append(
            ((-headcount, sender, unit, duty), Flow(counterpart, duty_name, headcount))
        )
        sent[sender][destination, destination_name, duty, duty_name] += headcount
    return (
        {code: [flow for _, flow in sorted(rows, key=lambda r: r[0])] for code, rows in received.items()},
        {
            code: [
                Flow(name, duty_name, headcount)
                for (_, name, _, duty_name), headcount in sorted(
                    by_key.items(), key=lambda item: (-item[1], item[0][0], item[0][2])
                )
            ]
            for code, by_key in sent.items()
        },
    )


def _logged_on(disaster: Disaster, day: date) -> _Logged:
    stmt = apply_filter(
        joined(select(Sender.code, Destination.code, func.count(Entry.id), func.sum(Entry.headcount))),
        disaster,
        EntryFilter(date_from=day, date_to=day),
    ).group_by(Sender.code, Destination.code)
    received: Counter[str] = Counter()
    sent: Counter[str] = Counter()
    entries: Counter[str] = Counter()
    for sender, destination, count, headcount in db.session.execute(stmt):
        received[destination] += int(headcount)
        sent[sender] += int(headcount)
        # Never the same organisation: an entry's sender is not its destination (a CHECK constraint).
        entries[destination] += int(count)
        entries[sender] += int(count)
    return _Logged(
        received=received,
        sent=sent,
        entries=entries,
        total_entries=sum(entries.values()) // 2,
        total_headcount=sum(received.values()),
    )


@dataclass(frozen=True)
class _Change:
    change: ClosedDayChange
    # The codes of the changed entry's sender and destination, before and after; None for a whole day.
    organisations: frozenset[str | None] | None

    def concerns(self, code: str) -> bool:
        return self.organisations is None or code in self.organisations


def _closed_day_changes(since: datetime) -> dict[int, list[_Change]]:
    """Changes to closed (確定) days recorded after `since`, by disaster, oldest first.

    Selected by time alone: the index on `at` reads the last day's records, where the disaster's index
    would read every record of a long disaster to find the few recent ones.
    """
    stmt = (
        select(
            AuditRecord.disaster_id,
            AuditRecord.at,
            AuditRecord.actor,
            AuditRecord.summary,
            AuditRecord.reason,
            AuditRecord.object_type,
            AuditRecord.before,
            AuditRecord.after,
        )
        .where(AuditRecord.closed_day_change.is_(True), AuditRecord.at > since)
        .order_by(AuditRecord.at, AuditRecord.id)
    )
    changes: dict[int, list[_Change]] = defaultdict(list)
    for disaster_id, at, actor, summary, reason, object_type, before, after in db.session.execute(stmt):
        organisations = (
            frozenset(code for s in (before, after) if s for code in (s.get("sender"), s.get("destination")))
            if object_type == "entry"
            else None
        )
        changes[disaster_id].append(
            _Change(ClosedDayChange(at=at, actor=actor, summary=summary, reason=reason), organisations)
        )
    return changes


def _base_url() -> str:
    return str(current_app.config.get("BASE_URL") or "http://127.0.0.1:5000").rstrip("/")


def _dashboard_link(disaster: Disaster, as_of: date) -> str:
    path = current_app.url_map.bind("localhost").build("dashboard.overview", {"slug": disaster.slug})
    return f"{_base_url()}{path}?{urlencode({'as_of': as_of.isoformat()})}"

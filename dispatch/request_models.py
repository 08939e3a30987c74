"""Requests (要請), their dated revisions, who covers them (assignments) and counterpart bodies (対口支援).

Imported at the end of models.py, so that every table is known to the one metadata. A request changes over
time ("from 8/5, 10 more a day"): each change is a revision that applies from its own start date, and the
request as of a date is the revision with the latest start on or before it (requests.py).
"""

from __future__ import annotations

import enum
from datetime import date, datetime

from sqlalchemy import CheckConstraint, Date, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .extensions import Model
from .models import Disaster, Duty, Organisation, UTCDateTime, utcnow


class Route(enum.StrEnum):
    """The route a request came by (施行令 and the national scheme)."""

    AGREEMENT = "agreement"
    COUNTERPART = "counterpart"
    GENERAL_SUPPORT = "general_support"
    GOVERNORS = "governors"
    LONG_TERM = "long_term"
    OTHER = "other"

    @property
    def label(self) -> str:
        return ROUTE_LABELS[self]


ROUTE_LABELS = {
    Route.AGREEMENT: "相互応援協定",
    Route.COUNTERPART: "応急対策職員派遣制度（対口支援）",
    Route.GENERAL_SUPPORT: "応急対策職員派遣制度（総括支援）",
    Route.GOVERNORS: "全国知事会などの枠組み",
    Route.LONG_TERM: "地方自治法第252条の17（中長期）",
    Route.OTHER: "その他",
}
_ROUTES = ", ".join(f"'{r.value}'" for r in Route)


class RequestState(enum.StrEnum):
    """What a person sets; 一部充足 and 充足 are derived from the fill (requests.status_label)."""

    OPEN = "open"  # 要請中
    COORDINATING = "coordinating"  # 調整中
    WITHDRAWN = "withdrawn"  # 取下げ
    CLOSED = "closed"  # 終了 (a reviewer closed it)


STATE_LABELS = {
    RequestState.OPEN: "要請中",
    RequestState.COORDINATING: "調整中",
    RequestState.WITHDRAWN: "取下げ",
    RequestState.CLOSED: "終了",
}
_STATES = ", ".join(f"'{s.value}'" for s in RequestState)


class StaffRequest(Model):
    """要請: an affected body asks for staff for one duty (and 職種) at one place.

    The figures (persons, period) live in the revisions. A withdrawn request counts up to the day before
    `withdrawn_on` and not from then on, so the fill of an earlier date stays what it was.
    """

    __tablename__ = "staff_request"
    __table_args__ = (
        UniqueConstraint("disaster_id", "number"),
        CheckConstraint("number <> ''", name="number_not_empty"),
        CheckConstraint(f"route IN ({_ROUTES})", name="route"),
        CheckConstraint(f"state IN ({_STATES})", name="state"),
        CheckConstraint("(state = 'withdrawn') = (withdrawn_on IS NOT NULL)", name="withdrawn_has_date"),
        # A short-term request is for a duty; a long-term one may name only a 職種.
        CheckConstraint("route = 'long_term' OR duty_id IS NOT NULL", name="short_term_has_duty"),
        Index("ix_staff_request_disaster_destination", "disaster_id", "requester_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    disaster_id: Mapped[int] = mapped_column(ForeignKey("disaster.id", ondelete="CASCADE"))
    number: Mapped[str] = mapped_column(String(40))
    # The affected body that asks, and where the staff go: the destination of the entries that fill it.
    requester_id: Mapped[int] = mapped_column(ForeignKey("organisation.id", ondelete="RESTRICT"))
    received_on: Mapped[date] = mapped_column(Date)
    route: Mapped[str] = mapped_column(String(20))
    duty_id: Mapped[int | None] = mapped_column(ForeignKey("duty.id", ondelete="RESTRICT"))
    job_type: Mapped[str] = mapped_column(String(50), default="")  # 職種: 一般事務, 土木, 保健師 …
    place: Mapped[str] = mapped_column(String(200), default="")  # 勤務場所
    reason: Mapped[str] = mapped_column(Text, default="")
    conditions: Mapped[str] = mapped_column(Text, default="")  # 勤務条件
    lodging: Mapped[str] = mapped_column(Text, default="")  # 宿泊・食事
    note: Mapped[str] = mapped_column(Text, default="")
    state: Mapped[str] = mapped_column(String(16), default=RequestState.OPEN.value)
    withdrawn_on: Mapped[date | None] = mapped_column(Date)
    created_by: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    disaster: Mapped[Disaster] = relationship()
    requester: Mapped[Organisation] = relationship()
    duty: Mapped[Duty | None] = relationship()
    revisions: Mapped[list[RequestRevision]] = relationship(
        back_populates="request", order_by="RequestRevision.date_from, RequestRevision.id"
    )
    assignments: Mapped[list[Assignment]] = relationship(
        back_populates="request", order_by="Assignment.date_from, Assignment.id"
    )

    @property
    def long_term(self) -> bool:
        return self.route == Route.LONG_TERM.value

    @property
    def route_label(self) -> str:
        return Route(self.route).label


class RequestRevision(Model):
    """The request as it stands from `date_from`: persons a day up to `date_to` (short term), or persons for
    the fiscal year (中長期, `fiscal_year` set). A later revision replaces it from its own start."""

    __tablename__ = "request_revision"
    __table_args__ = (
        UniqueConstraint("request_id", "date_from"),
        CheckConstraint("persons >= 0", name="persons_not_negative"),
        CheckConstraint("persons <= 100000", name="persons_plausible"),
        CheckConstraint("date_to >= date_from", name="to_after_from"),
        CheckConstraint("in_force_to IS NULL OR in_force_to >= date_from", name="in_force_after_from"),
        # The fill of a date (fill.py) is one range of this index: every revision in force on the day, with
        # what it adds up, without reading the requests.
        Index(
            "ix_request_revision_in_force",
            "disaster_id",
            "in_force_to",
            "date_from",
            "requester_id",
            "duty_id",
            "persons",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("staff_request.id", ondelete="CASCADE"))
    date_from: Mapped[date] = mapped_column(Date)
    date_to: Mapped[date] = mapped_column(Date)
    persons: Mapped[int]
    fiscal_year: Mapped[int | None]
    # Copied from the request, and the last day the revision counts in a day's fill: its end, the day before
    # the next revision starts, or the day before the request was withdrawn; NULL for 中長期 or when it
    # never counts. Kept by requests.py whenever a request is revised, withdrawn or reopened.
    disaster_id: Mapped[int] = mapped_column(ForeignKey("disaster.id", ondelete="CASCADE"))
    requester_id: Mapped[int] = mapped_column(ForeignKey("organisation.id", ondelete="RESTRICT"))
    duty_id: Mapped[int | None] = mapped_column(ForeignKey("duty.id", ondelete="RESTRICT"))
    in_force_to: Mapped[date | None] = mapped_column(Date)
    note: Mapped[str] = mapped_column(Text, default="")
    created_by: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    request: Mapped[StaffRequest] = relationship(back_populates="revisions")


class Assignment(Model):
    """調整・決定: a sender covers part of a request, persons a day from–to (for 中長期, persons for the
    fiscal year the period lies in), decided on a date."""

    __tablename__ = "assignment"
    __table_args__ = (
        CheckConstraint("persons >= 1", name="persons_positive"),
        CheckConstraint("persons <= 100000", name="persons_plausible"),
        CheckConstraint("date_to >= date_from", name="to_after_from"),
        CheckConstraint("counts_to IS NULL OR counts_to >= date_from", name="counts_after_from"),
        Index("ix_assignment_request", "request_id"),
        Index(
            "ix_assignment_counts",
            "disaster_id",
            "counts_to",
            "date_from",
            "requester_id",
            "duty_id",
            "persons",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("staff_request.id", ondelete="CASCADE"))
    sender_id: Mapped[int] = mapped_column(ForeignKey("organisation.id", ondelete="RESTRICT"))
    persons: Mapped[int]
    date_from: Mapped[date] = mapped_column(Date)
    date_to: Mapped[date] = mapped_column(Date)
    # As on the revisions: the request's, and the last day the assignment counts (its end, or the day before
    # the request was withdrawn; NULL for 中長期), kept by requests.py.
    disaster_id: Mapped[int] = mapped_column(ForeignKey("disaster.id", ondelete="CASCADE"))
    requester_id: Mapped[int] = mapped_column(ForeignKey("organisation.id", ondelete="RESTRICT"))
    duty_id: Mapped[int | None] = mapped_column(ForeignKey("duty.id", ondelete="RESTRICT"))
    counts_to: Mapped[date | None] = mapped_column(Date)
    decided_on: Mapped[date] = mapped_column(Date)
    note: Mapped[str] = mapped_column(Text, default="")
    created_by: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    request: Mapped[StaffRequest] = relationship(back_populates="assignments")
    sender: Mapped[Organisation] = relationship(foreign_keys=[sender_id])


class CounterpartAssignment(Model):
    """対口支援: a counterpart body (対口支援団体) matched with an affected municipality, by stage (段階)."""

    __tablename__ = "counterpart_assignment"
    __table_args__ = (
        UniqueConstraint("disaster_id", "supported_id", "supporter_id", "stage"),
        CheckConstraint("supported_id <> supporter_id", name="supporter_not_supported"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    disaster_id: Mapped[int] = mapped_column(ForeignKey("disaster.id", ondelete="CASCADE"))
    supporter_id: Mapped[int] = mapped_column(ForeignKey("organisation.id", ondelete="RESTRICT"))
    supported_id: Mapped[int] = mapped_column(ForeignKey("organisation.id", ondelete="RESTRICT"))
    stage: Mapped[str] = mapped_column(String(40), default="")  # 段階: 第1段階, 第2段階 …
    decided_on: Mapped[date] = mapped_column(Date)
    note: Mapped[str] = mapped_column(Text, default="")
    created_by: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    supporter: Mapped[Organisation] = relationship(foreign_keys=[supporter_id])
    supported: Mapped[Organisation] = relationship(foreign_keys=[supported_id])


class EntryRequestLink(Model):
    """An entry linked by choice to the request it fills, where more than one request matches it (the same
    destination and duty, its date within each one's period); an entry matching exactly one links to it
    without a row here (request_links.py).

    A table of its own, not a column of the entry: the entry form's write path stays what it was, and an
    entry deleted takes its link with it. A link counts only while the entry still matches the request (an
    entry edited to another destination, or a request revised or withdrawn, leaves it counting for none).
    """

    __tablename__ = "entry_request_link"
    __table_args__ = (Index("ix_entry_request_link_request", "request_id"),)

    entry_id: Mapped[int] = mapped_column(ForeignKey("entry.id", ondelete="CASCADE"), primary_key=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("staff_request.id", ondelete="CASCADE"))
    created_by: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

"""The tracker's tables and the invariants the database itself enforces.

Every rule that keeps the figures right lives here as a constraint as well as in the forms: a headcount
is at least one, a key is entered once, an organisation code carries a valid check digit (checked here in
Python; the CHECKs guard shape and kind).
"""

from __future__ import annotations

import enum
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    CheckConstraint,
    Column,
    Date,
    DateTime,
    ForeignKey,
    Index,
    SmallInteger,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
    text,
    true,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .extensions import Model


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """An aware UTC timestamp on every database: SQLite keeps no offset, so it is restored on read."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: object) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given for a UTC column")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: object) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class OrgKind(enum.StrEnum):
    PREFECTURE = "prefecture"
    CITY = "city"
    TOWN = "town"
    VILLAGE = "village"
    # 東京都's 23 特別区: municipalities of their own kind.
    SPECIAL_WARD = "special_ward"
    # 指定都市の区: part of its city (parent), not a body; at most a sender unit, never a sender or destination.
    WARD = "ward"
    # Not a local government: 一部事務組合, 広域連合, 企業局, 消防本部, national agencies (codes X0001 …).
    OTHER = "other"

    @property
    def label(self) -> str:
        return ORG_KIND_LABELS[self]

    @property
    def is_municipal(self) -> bool:
        return self in MUNICIPAL_KINDS

    @property
    def is_local_government(self) -> bool:
        """One of the 1,788 bodies of the 全国地方公共団体コード list (a ward is part of its city)."""
        return self in LOCAL_GOVERNMENT_KINDS


ORG_KIND_LABELS = {
    OrgKind.PREFECTURE: "都道府県",
    OrgKind.CITY: "市",
    OrgKind.TOWN: "町",
    OrgKind.VILLAGE: "村",
    OrgKind.SPECIAL_WARD: "特別区",
    OrgKind.WARD: "指定都市の区",
    OrgKind.OTHER: "その他",
}
MUNICIPAL_KINDS = frozenset({OrgKind.CITY, OrgKind.TOWN, OrgKind.VILLAGE, OrgKind.SPECIAL_WARD})
LOCAL_GOVERNMENT_KINDS = frozenset({OrgKind.PREFECTURE, *MUNICIPAL_KINDS})

_KIND_VALUES = ", ".join(f"'{k.value}'" for k in OrgKind)


def lg_check_digit(code5: str) -> str:
    """Check digit of a 全国地方公共団体コード (MIC): weights 6..2, modulus 11."""
    total = sum(int(digit) * weight for digit, weight in zip(code5, range(6, 1, -1), strict=True))
    return str((11 - total % 11) % 10)


def is_valid_lg_code(code: str) -> bool:
    return len(code) == 6 and code.isascii() and code.isdigit() and lg_check_digit(code[:5]) == code[5]


class Organisation(Model):
    """A sender or destination: a prefecture, a municipality, or another body; or a designated city's ward.

    Bodies without a local-government code (waterworks bureaus, 一部事務組合) get a generated code
    starting with X, so that every organisation is named by one unique code everywhere and none can ever
    collide with a local government's six digits. A body is never deleted once anything refers to it: it is
    deactivated, which keeps its entries and takes it out of what new entries may name.
    """

    __tablename__ = "organisation"
    __table_args__ = (
        CheckConstraint(f"kind IN ({_KIND_VALUES})", name="kind"),
        CheckConstraint(
            "(kind = 'other' AND code LIKE 'X%') OR (kind <> 'other' AND length(code) = 6)",
            name="code_shape",
        ),
        CheckConstraint("(kind = 'ward') = (parent_id IS NOT NULL)", name="ward_has_parent"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(12), unique=True)
    kind: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(100), index=True)
    kana: Mapped[str] = mapped_column(String(200), default="")
    prefecture_id: Mapped[int | None] = mapped_column(ForeignKey("organisation.id", ondelete="RESTRICT"))
    # A ward's designated city.
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("organisation.id", ondelete="RESTRICT"))
    district: Mapped[str] = mapped_column(String(50), default="")
    area: Mapped[str] = mapped_column(String(50), default="")
    active: Mapped[bool] = mapped_column(default=True, server_default=true())

    prefecture: Mapped[Organisation | None] = relationship(remote_side=[id], foreign_keys=[prefecture_id])
    parent: Mapped[Organisation | None] = relationship(remote_side=[id], foreign_keys=[parent_id])

    @property
    def org_kind(self) -> OrgKind:
        return OrgKind(self.kind)

    @property
    def label(self) -> str:
        return f"{self.code} {self.name}"

    def __repr__(self) -> str:
        return f"<Organisation {self.code} {self.name}>"


class Duty(Model):
    __tablename__ = "duty"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    name_ja: Mapped[str] = mapped_column(String(100), unique=True)
    name_en: Mapped[str] = mapped_column(String(100), default="")

    @property
    def name(self) -> str:
        return self.name_ja


disaster_prefecture = Table(
    "disaster_prefecture",
    Model.metadata,
    Column("disaster_id", ForeignKey("disaster.id", ondelete="CASCADE"), primary_key=True),
    Column("organisation_id", ForeignKey("organisation.id", ondelete="RESTRICT"), primary_key=True),
)


class Disaster(Model):
    """One event. Closed on a date (終了): no more entries and no more digests until it is reopened."""

    __tablename__ = "disaster"
    __table_args__ = (
        CheckConstraint("slug <> ''", name="slug_not_empty"),
        CheckConstraint("closed_on IS NULL OR closed_on >= start_date", name="closed_after_start"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    start_date: Mapped[date] = mapped_column(Date)
    closed_on: Mapped[date | None] = mapped_column(Date)

    operations: Mapped[list[Operation]] = relationship(
        back_populates="disaster", order_by="Operation.display_order, Operation.id"
    )
    # The prefectures the disaster struck (被災都道府県): who received the help, and so whose side a report
    # speaks from when the own organisation is one of them (viewpoint.py).
    prefectures: Mapped[list[Organisation]] = relationship(
        secondary=disaster_prefecture, order_by="Organisation.code"
    )

    @property
    def closed(self) -> bool:
        return self.closed_on is not None


class Operation(Model):
    """派遣区分: one dispatch effort within a disaster, reported as one numbered item.

    Ended on its end date (終了日): the report's period reads 「…から8月31日まで」 from then on, and no entry
    may be dated after it. Without one it is 継続中.
    """

    __tablename__ = "operation"
    __table_args__ = (UniqueConstraint("disaster_id", "code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    disaster_id: Mapped[int] = mapped_column(ForeignKey("disaster.id", ondelete="CASCADE"))
    code: Mapped[str] = mapped_column(String(40))
    name: Mapped[str] = mapped_column(String(200))
    display_order: Mapped[int] = mapped_column(default=0)
    end_date: Mapped[date | None] = mapped_column(Date)
    # Whether a team's travel days (移動日) are person-days: the report then reads 「（移動日を含む）」 (roster.py).
    travel_days_count: Mapped[bool] = mapped_column(default=True, server_default=true())

    disaster: Mapped[Disaster] = relationship(back_populates="operations")
    receiving_sections: Mapped[list[ReceivingSection]] = relationship(
        back_populates="operation", cascade="all, delete-orphan"
    )

    def ended_by(self, day: date) -> bool:
        """Whether the operation had ended on or before the date (its period is then closed)."""
        return self.end_date is not None and self.end_date <= day


class ReceivingSection(Model):
    """配属先: where in one destination an operation's staff work, e.g. 町災害対策本部事務局. The report
    names it after the destination: 五城目町（町災害対策本部事務局）."""

    __tablename__ = "receiving_section"
    __table_args__ = (
        UniqueConstraint("operation_id", "destination_id"),
        CheckConstraint("name <> ''", name="name_not_empty"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    operation_id: Mapped[int] = mapped_column(ForeignKey("operation.id", ondelete="CASCADE"))
    destination_id: Mapped[int] = mapped_column(ForeignKey("organisation.id", ondelete="RESTRICT"))
    name: Mapped[str] = mapped_column(String(100))

    operation: Mapped[Operation] = relationship(back_populates="receiving_sections")
    destination: Mapped[Organisation] = relationship()


class Entry(Model):
    """One date × operation × sender (and unit) × destination × duty, with the headcount on duty that day.

    Person-days are the sum of headcounts. The natural key is unique: the same fact entered twice is
    refused, never added. The sender unit is '' rather than NULL when absent, because NULLs never collide
    in a UNIQUE constraint and the duplicate would slip through.
    """

    __tablename__ = "entry"
    __table_args__ = (
        UniqueConstraint(
            "operation_id",
            "date",
            "sender_id",
            "sender_unit",
            "destination_id",
            "duty_id",
            name="uq_entry_key",
        ),
        CheckConstraint("headcount >= 1", name="headcount_positive"),
        # Far above any real day's headcount, and well inside a 32-bit integer on every database.
        CheckConstraint("headcount <= 10000", name="headcount_plausible"),
        CheckConstraint("sender_id <> destination_id", name="sender_not_destination"),
        Index("ix_entry_operation_date", "operation_id", "date"),
        # The destination's and the sender's entries in date order, and with them (the last two columns)
        # what a list's count and person-days read: summed from the index alone, never the table's rows.
        Index("ix_entry_destination_date", "destination_id", "date", "operation_id", "headcount"),
        Index("ix_entry_sender_date", "sender_id", "date", "operation_id", "headcount"),
        CheckConstraint("source IN ('manual', 'roster')", name="source"),
        # The entries derived from the named roster (roster.py), read by the 実人数 coverage check.
        Index(
            "ix_entry_roster_operation_date",
            "operation_id",
            "date",
            sqlite_where=text("source = 'roster'"),
            postgresql_where=text("source = 'roster'"),
        ),
        # The figure typed for a key the roster holds (disagreements.py): only on the roster's entries.
        CheckConstraint(
            "typed_headcount IS NULL OR (source = 'roster' AND typed_headcount BETWEEN 1 AND 10000)",
            name="typed_headcount",
        ),
        Index(
            "ix_entry_typed_operation_date",
            "operation_id",
            "date",
            sqlite_where=text("typed_headcount IS NOT NULL"),
            postgresql_where=text("typed_headcount IS NOT NULL"),
        ),
        # Ids are never reused: a new entry must not inherit a deleted one's history in the audit trail.
        {"sqlite_autoincrement": True},
    )

    # active_history: the tally (dispatch/tally.py) takes an edited entry's old values off, so the old
    # value must be known at flush even when the attribute was expired before the edit.
    id: Mapped[int] = mapped_column(primary_key=True)
    date: Mapped[date] = mapped_column(Date, active_history=True)
    operation_id: Mapped[int] = mapped_column(
        ForeignKey("operation.id", ondelete="RESTRICT"), active_history=True
    )
    sender_id: Mapped[int] = mapped_column(
        ForeignKey("organisation.id", ondelete="RESTRICT"), active_history=True
    )
    sender_unit: Mapped[str] = mapped_column(String(100), default="")
    destination_id: Mapped[int] = mapped_column(
        ForeignKey("organisation.id", ondelete="RESTRICT"), active_history=True
    )
    duty_id: Mapped[int] = mapped_column(ForeignKey("duty.id", ondelete="RESTRICT"), active_history=True)
    headcount: Mapped[int] = mapped_column(active_history=True)
    note: Mapped[str] = mapped_column(Text, default="")
    # 'roster': derived from the team members on duty that day (roster.py), kept in step by it alone.
    source: Mapped[str] = mapped_column(String(8), default="manual", server_default="manual")
    # The headcount typed by hand for this key while the roster holds it (disagreements.py): kept beside the
    # roster's, which alone is counted; the day is flagged where the two differ.
    typed_headcount: Mapped[int | None] = mapped_column(default=None)
    created_by: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_by: Mapped[str] = mapped_column(String(64), default="")
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    operation: Mapped[Operation] = relationship()
    sender: Mapped[Organisation] = relationship(foreign_keys=[sender_id])
    destination: Mapped[Organisation] = relationship(foreign_keys=[destination_id])
    duty: Mapped[Duty] = relationship()


class Dim(enum.IntEnum):
    """The tally's dimensions, each a kind of key (key1, key2): A the whole disaster (0, 0), O operation,
    S sender, D destination, U duty, DU destination × duty, SD sender × destination.

    Stored as a small integer, not as the letters: every column of the tally's key then has a fixed width,
    and PostgreSQL compares index entries without decoding a text column first. A seek per organisation
    for the totals by sender took half the time it took with the letters (docs/benchmarks.md).
    """

    A = 1
    O = 2  # noqa: E741 (the operation's letter, as in the other names)
    S = 3
    D = 4
    U = 5
    DU = 6
    SD = 7


class Tally(Model):
    """Person-days kept in step with the entries, in the same transaction (dispatch/tally.py).

    One row per disaster, dimension, key and date on which that key had entries: the headcount that day
    and the person-days through that day. A total as of any date is then the latest row on or before it,
    one index seek per key, however many entries there are. `dim` names the key (Dim). Never edited by
    hand: `flask check-totals` compares it with the entries and rebuilds it.
    """

    __tablename__ = "tally"
    __table_args__ = (
        CheckConstraint("headcount > 0", name="headcount_positive"),
        # The key is the only access path, so SQLite keeps the rows in key order (no separate rowid b-tree).
        {"sqlite_with_rowid": False},
    )

    disaster_id: Mapped[int] = mapped_column(
        ForeignKey("disaster.id", ondelete="CASCADE"), primary_key=True, autoincrement=False
    )
    dim: Mapped[int] = mapped_column(SmallInteger, primary_key=True)  # a Dim
    key1: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    key2: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    date: Mapped[date] = mapped_column(Date, primary_key=True)
    headcount: Mapped[int]
    person_days: Mapped[int]


class Role(enum.StrEnum):
    ADMIN = "admin"
    HQ = "hq"
    REVIEWER = "reviewer"
    MUNICIPALITY = "municipality"

    @property
    def label(self) -> str:
        return ROLE_LABELS[self]


ROLE_LABELS = {
    Role.ADMIN: "管理者",
    Role.HQ: "災害対策本部（入力）",
    Role.REVIEWER: "総合防災課（確認・締め）",
    Role.MUNICIPALITY: "市町村（閲覧）",
}

_ROLE_VALUES = ", ".join(f"'{r.value}'" for r in Role)


class User(Model):
    """A person who logs in. A municipality user sees only entries its organisation sent or received."""

    __tablename__ = "user_account"
    __table_args__ = (
        CheckConstraint(f"role IN ({_ROLE_VALUES})", name="role"),
        CheckConstraint("role <> 'municipality' OR organisation_id IS NOT NULL", name="municipality_has_org"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(100), default="")
    organisation_id: Mapped[int | None] = mapped_column(ForeignKey("organisation.id", ondelete="RESTRICT"))
    role: Mapped[str] = mapped_column(String(16))
    password_hash: Mapped[str] = mapped_column(String(255))
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    password_changed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Raised by every logout: a copy of the session cookie taken before it no longer logs anyone in.
    session_version: Mapped[int] = mapped_column(default=0, server_default="0")

    organisation: Mapped[Organisation | None] = relationship()

    @property
    def user_role(self) -> Role:
        return Role(self.role)

    # Flask-Login's user protocol.
    @property
    def is_authenticated(self) -> bool:
        return True

    @property
    def is_active(self) -> bool:
        return self.active

    @property
    def is_anonymous(self) -> bool:
        return False

    def get_id(self) -> str:
        # The password's change time and the session version are part of the session id: changing or
        # resetting a password, or logging out, ends every session opened before (the change time to the
        # microsecond, or a change within a second would not).
        return f"{self.id}:{self.password_changed_at.timestamp():.6f}:{self.session_version}"


class LoginThrottle(Model):
    """Failed password checks per account and per address within the last few minutes, in the database so
    every worker sees the same count (security.py). A check is counted when it starts and taken off when
    the password was right, so parallel guesses cannot all slip past the count."""

    __tablename__ = "login_throttle"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    # Failures still inside the window, by the minute they happened in (ISO 8601, UTC): {minute: count}.
    failures_by_minute: Mapped[dict[str, int]] = mapped_column(JSON, default=dict)
    last_failure_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)


class ClosedDay(Model):
    """締め: a date whose figures the division has checked; its entries are 確定 rather than 速報."""

    __tablename__ = "closed_day"
    __table_args__ = (UniqueConstraint("disaster_id", "date"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    disaster_id: Mapped[int] = mapped_column(ForeignKey("disaster.id", ondelete="CASCADE"))
    date: Mapped[date] = mapped_column(Date)
    closed_by: Mapped[str] = mapped_column(String(64))
    closed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class AuditRecord(Model):
    """Who changed what, when, from which values to which, and why. Append-only: triggers refuse
    UPDATE and DELETE on both databases, so the application cannot rewrite its own history."""

    __tablename__ = "audit_record"
    __table_args__ = (
        Index("ix_audit_record_object", "object_type", "object_id"),
        Index("ix_audit_record_at", "at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    actor: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(32))
    object_type: Mapped[str] = mapped_column(String(32))
    object_id: Mapped[int | None]
    disaster_id: Mapped[int | None] = mapped_column(
        ForeignKey("disaster.id", ondelete="RESTRICT"), index=True
    )
    summary: Mapped[str] = mapped_column(Text, default="")
    before: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    after: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    reason: Mapped[str] = mapped_column(Text, default="")
    # A change to a closed day's figures: shown in the next digest and highlighted in the log.
    closed_day_change: Mapped[bool] = mapped_column(default=False)


class ExportStatus(enum.StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    # Done, and its file removed once it was kept EXPORT_JOB_KEEP_HOURS (export_jobs.remove_expired).
    EXPIRED = "expired"


class ExportJob(Model):
    """A large .xlsx export asked for on a page and built by the scheduler process (export_jobs.py).

    The row is claimed by a guarded UPDATE of its status from queued to running, so of two schedulers one
    builds it and the other finds nothing to claim. What the file holds is fixed when it is asked for:
    the filter's codes, the as-of date and, for a municipality user, its organisation (visible_to).
    """

    __tablename__ = "export_job"
    __table_args__ = (
        CheckConstraint("status IN ('queued', 'running', 'done', 'failed', 'expired')", name="status"),
        CheckConstraint("kind IN ('entries', 'totals')", name="kind"),
        Index("ix_export_job_status_created_at", "status", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"))
    disaster_id: Mapped[int] = mapped_column(ForeignKey("disaster.id", ondelete="CASCADE"))
    # entries.xlsx (the list's filters) or totals.xlsx (the whole disaster as of a date).
    kind: Mapped[str] = mapped_column(String(16))
    as_of: Mapped[date] = mapped_column(Date)
    # EntryFilter.as_params(): codes and ISO dates, as in the export's URL.
    filters: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    visible_to: Mapped[int | None] = mapped_column(ForeignKey("organisation.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(16), default=ExportStatus.QUEUED)
    rows_written: Mapped[int] = mapped_column(default=0)
    rows_total: Mapped[int] = mapped_column(default=0)
    # The download's name (Japanese), and the file under the instance folder once built.
    file_name: Mapped[str] = mapped_column(String(300), default="")
    file_path: Mapped[str] = mapped_column(String(500), default="")
    file_size: Mapped[int] = mapped_column(default=0)
    error: Mapped[str] = mapped_column(Text, default="")
    claimed_by: Mapped[str] = mapped_column(String(100), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    disaster: Mapped[Disaster] = relationship()


# The digest's recipients and deliveries, and the scheduler's runs, live in their own module; imported here
# (and named again, so `from .models import Delivery` keeps working) so every table is in one metadata.
from .delivery_models import Delivery as Delivery  # noqa: E402
from .delivery_models import DeliveryStatus as DeliveryStatus  # noqa: E402
from .delivery_models import JobRun as JobRun  # noqa: E402
from .delivery_models import Recipient as Recipient  # noqa: E402
from .delivery_models import RecipientKind as RecipientKind  # noqa: E402

# Requests and fill (issue 16) live in their own module; imported here so every table is in one metadata.
from .request_models import Assignment as Assignment  # noqa: E402
from .request_models import CounterpartAssignment as CounterpartAssignment  # noqa: E402
from .request_models import EntryRequestLink as EntryRequestLink  # noqa: E402
from .request_models import RequestRevision as RequestRevision  # noqa: E402
from .request_models import StaffRequest as StaffRequest  # noqa: E402

# People and teams (issue 17) live in their own module; imported here so that the metadata is complete.
from .roster_models import Person, Stint, Team  # noqa: E402, F401

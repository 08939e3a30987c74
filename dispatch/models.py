"""The tracker's tables and the invariants the database itself enforces.

Every rule that keeps the figures right lives here as a constraint as well as in the forms: a headcount
is at least one, a key is entered once, an organisation code carries a valid check digit (checked here in
Python; the CHECKs guard shape and kind).
"""

from __future__ import annotations

import enum
from datetime import UTC, date, datetime

from sqlalchemy import (
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    Index,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .extensions import db


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
    OTHER = "other"

    @property
    def label(self) -> str:
        return ORG_KIND_LABELS[self]

    @property
    def is_municipal(self) -> bool:
        return self in (OrgKind.CITY, OrgKind.TOWN, OrgKind.VILLAGE)


ORG_KIND_LABELS = {
    OrgKind.PREFECTURE: "都道府県",
    OrgKind.CITY: "市",
    OrgKind.TOWN: "町",
    OrgKind.VILLAGE: "村",
    OrgKind.OTHER: "その他",
}

_KIND_VALUES = ", ".join(f"'{k.value}'" for k in OrgKind)


def lg_check_digit(code5: str) -> str:
    """Check digit of a 全国地方公共団体コード (MIC): weights 6..2, modulus 11."""
    total = sum(int(digit) * weight for digit, weight in zip(code5, range(6, 1, -1), strict=True))
    return str((11 - total % 11) % 10)


def is_valid_lg_code(code: str) -> bool:
    return len(code) == 6 and code.isascii() and code.isdigit() and lg_check_digit(code[:5]) == code[5]


class Organisation(db.Model):
    """A sender or destination: a prefecture, a municipality, or another body.

    Bodies without a local-government code (waterworks bureaus, 一部事務組合) get a generated code
    starting with X, so that every organisation is named by one unique code everywhere.
    """

    __tablename__ = "organisation"
    __table_args__ = (
        CheckConstraint(f"kind IN ({_KIND_VALUES})", name="kind"),
        CheckConstraint(
            "(kind = 'other' AND code LIKE 'X%') OR (kind <> 'other' AND length(code) = 6)",
            name="code_shape",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(12), unique=True)
    kind: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(100), index=True)
    kana: Mapped[str] = mapped_column(String(200), default="")
    prefecture_id: Mapped[int | None] = mapped_column(ForeignKey("organisation.id", ondelete="RESTRICT"))
    district: Mapped[str] = mapped_column(String(50), default="")
    area: Mapped[str] = mapped_column(String(50), default="")

    prefecture: Mapped[Organisation | None] = relationship(remote_side=[id])

    @property
    def org_kind(self) -> OrgKind:
        return OrgKind(self.kind)

    @property
    def label(self) -> str:
        return f"{self.code} {self.name}"

    def __repr__(self) -> str:
        return f"<Organisation {self.code} {self.name}>"


class Duty(db.Model):
    __tablename__ = "duty"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    name_ja: Mapped[str] = mapped_column(String(100), unique=True)
    name_en: Mapped[str] = mapped_column(String(100), default="")

    @property
    def name(self) -> str:
        return self.name_ja


class Disaster(db.Model):
    __tablename__ = "disaster"
    __table_args__ = (CheckConstraint("slug <> ''", name="slug_not_empty"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    start_date: Mapped[date] = mapped_column(Date)
    closed: Mapped[bool] = mapped_column(default=False)

    operations: Mapped[list[Operation]] = relationship(
        back_populates="disaster", order_by="Operation.display_order, Operation.id"
    )


class Operation(db.Model):
    """派遣区分: one dispatch effort within a disaster, reported as one numbered item."""

    __tablename__ = "operation"
    __table_args__ = (UniqueConstraint("disaster_id", "code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    disaster_id: Mapped[int] = mapped_column(ForeignKey("disaster.id", ondelete="CASCADE"))
    code: Mapped[str] = mapped_column(String(40))
    name: Mapped[str] = mapped_column(String(200))
    display_order: Mapped[int] = mapped_column(default=0)
    # A closed operation's period ends at its last entry; an open one is 継続中.
    closed: Mapped[bool] = mapped_column(default=False)

    disaster: Mapped[Disaster] = relationship(back_populates="operations")


class Entry(db.Model):
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
        CheckConstraint("sender_id <> destination_id", name="sender_not_destination"),
        Index("ix_entry_operation_date", "operation_id", "date"),
        Index("ix_entry_destination_date", "destination_id", "date"),
        Index("ix_entry_sender_date", "sender_id", "date"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    date: Mapped[date] = mapped_column(Date)
    operation_id: Mapped[int] = mapped_column(ForeignKey("operation.id", ondelete="RESTRICT"))
    sender_id: Mapped[int] = mapped_column(ForeignKey("organisation.id", ondelete="RESTRICT"))
    sender_unit: Mapped[str] = mapped_column(String(100), default="")
    destination_id: Mapped[int] = mapped_column(ForeignKey("organisation.id", ondelete="RESTRICT"))
    duty_id: Mapped[int] = mapped_column(ForeignKey("duty.id", ondelete="RESTRICT"))
    headcount: Mapped[int]
    note: Mapped[str] = mapped_column(Text, default="")
    created_by: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_by: Mapped[str] = mapped_column(String(64), default="")
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    operation: Mapped[Operation] = relationship()
    sender: Mapped[Organisation] = relationship(foreign_keys=[sender_id])
    destination: Mapped[Organisation] = relationship(foreign_keys=[destination_id])
    duty: Mapped[Duty] = relationship()

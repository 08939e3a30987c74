"""People and teams (班・陣): the named roster behind distinct persons (実人数) and who is in the field.

A person belongs to one disaster's roster. Removing a person from a disaster keeps the row (and the days
they served) for the audit; erasing blanks every personal field, so that entries and totals keep their
numbers while the name is gone. A team is one rotation (第1陣 …) of one sending body to one destination
under one operation and duty; its members each serve their own dates within it (a stint). The day's
dispatch entries of a team's key are derived from the stints by roster.py, never typed.
"""

from __future__ import annotations

import enum
from datetime import date, datetime

from sqlalchemy import CheckConstraint, Date, ForeignKey, Index, String, Text, UniqueConstraint, false
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .extensions import Model
from .models import Duty, Operation, Organisation, UTCDateTime, utcnow


class StaffKind(enum.StrEnum):
    PREFECTURE = "prefecture"
    MUNICIPAL = "municipal"
    FIRE = "fire"
    OTHER = "other"

    @property
    def label(self) -> str:
        return STAFF_KIND_LABELS[self]


STAFF_KIND_LABELS = {
    StaffKind.PREFECTURE: "県職員",
    StaffKind.MUNICIPAL: "市町村職員",
    StaffKind.FIRE: "消防職員",
    StaffKind.OTHER: "その他",
}


class TeamType(enum.StrEnum):
    GENERAL_SUPPORT = "general_support"
    COUNTERPART = "counterpart"
    SHELTER = "shelter"
    DAMAGE_SURVEY = "damage_survey"
    WATER = "water"
    OTHER = "other"

    @property
    def label(self) -> str:
        return TEAM_TYPE_LABELS[self]


TEAM_TYPE_LABELS = {
    TeamType.GENERAL_SUPPORT: "総括支援",
    TeamType.COUNTERPART: "対口支援",
    TeamType.SHELTER: "避難所運営",
    TeamType.DAMAGE_SURVEY: "被害認定調査",
    TeamType.WATER: "給水",
    TeamType.OTHER: "その他",
}

_STAFF_KINDS = ", ".join(f"'{k.value}'" for k in StaffKind)
_TEAM_TYPES = ", ".join(f"'{t.value}'" for t in TeamType)


class Person(Model):
    """One member of staff on a disaster's roster. Personal data: shown only to those who need it
    (field.py), every read of a record logged (roster.py)."""

    __tablename__ = "person"
    __table_args__ = (
        CheckConstraint(f"staff_kind IN ({_STAFF_KINDS})", name="staff_kind"),
        CheckConstraint("name <> ''", name="name_not_empty"),
        Index("ix_person_disaster_sender", "disaster_id", "sender_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    disaster_id: Mapped[int] = mapped_column(ForeignKey("disaster.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(100))
    kana: Mapped[str] = mapped_column(String(200), default="")
    sender_id: Mapped[int] = mapped_column(ForeignKey("organisation.id", ondelete="RESTRICT"))
    sender_unit: Mapped[str] = mapped_column(String(100), default="")
    job_type: Mapped[str] = mapped_column(String(50), default="")
    position: Mapped[str] = mapped_column(String(50), default="")
    staff_kind: Mapped[str] = mapped_column(String(16))
    staff_number: Mapped[str] = mapped_column(String(50), default="")
    contact: Mapped[str] = mapped_column(String(200), default="")
    # Removed from the disaster: off every list from then on, the days served still counted.
    removed: Mapped[bool] = mapped_column(default=False, server_default=false())
    # Erased by an admin: every personal field blanked; the days served still counted.
    erased_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    sender: Mapped[Organisation] = relationship()

    @property
    def staff_kind_label(self) -> str:
        return StaffKind(self.staff_kind).label


class Team(Model):
    """班・陣: one rotation of one sending body to one destination. Its first and last days may be travel
    days (移動日), person-days or not as the operation says (Operation.travel_days_count)."""

    __tablename__ = "team"
    __table_args__ = (
        CheckConstraint(f"team_type IN ({_TEAM_TYPES})", name="team_type"),
        CheckConstraint("end_date >= start_date", name="end_after_start"),
        CheckConstraint("number >= 1", name="number_positive"),
        CheckConstraint("sender_id <> destination_id", name="sender_not_destination"),
        UniqueConstraint("operation_id", "sender_id", "destination_id", "duty_id", "number"),
        Index("ix_team_disaster_destination", "disaster_id", "destination_id", "start_date"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    disaster_id: Mapped[int] = mapped_column(ForeignKey("disaster.id", ondelete="CASCADE"))
    number: Mapped[int]
    team_type: Mapped[str] = mapped_column(String(32))
    operation_id: Mapped[int] = mapped_column(ForeignKey("operation.id", ondelete="RESTRICT"))
    sender_id: Mapped[int] = mapped_column(ForeignKey("organisation.id", ondelete="RESTRICT"))
    destination_id: Mapped[int] = mapped_column(ForeignKey("organisation.id", ondelete="RESTRICT"))
    duty_id: Mapped[int] = mapped_column(ForeignKey("duty.id", ondelete="RESTRICT"))
    receiving_section: Mapped[str] = mapped_column(String(100), default="")
    leader_id: Mapped[int | None] = mapped_column(ForeignKey("person.id", ondelete="SET NULL"))
    start_date: Mapped[date] = mapped_column(Date)
    end_date: Mapped[date] = mapped_column(Date)
    travel_at_start: Mapped[bool] = mapped_column(default=False, server_default=false())
    travel_at_end: Mapped[bool] = mapped_column(default=False, server_default=false())
    note: Mapped[str] = mapped_column(Text, default="")

    operation: Mapped[Operation] = relationship()
    sender: Mapped[Organisation] = relationship(foreign_keys=[sender_id])
    destination: Mapped[Organisation] = relationship(foreign_keys=[destination_id])
    duty: Mapped[Duty] = relationship()
    leader: Mapped[Person | None] = relationship()
    stints: Mapped[list[Stint]] = relationship(
        back_populates="team", cascade="all, delete-orphan", order_by="Stint.id"
    )

    @property
    def label(self) -> str:
        return f"第{self.number}陣"

    @property
    def type_label(self) -> str:
        return TeamType(self.team_type).label


class Stint(Model):
    """One person's dates in one team (a member may join late or leave early), and the days of them on
    duty: without the team's travel days when the operation does not count them; both NULL when none."""

    __tablename__ = "stint"
    __table_args__ = (
        UniqueConstraint("team_id", "person_id"),
        CheckConstraint("end_date >= start_date", name="end_after_start"),
        CheckConstraint("(duty_from IS NULL) = (duty_to IS NULL)", name="duty_both_or_neither"),
        Index("ix_stint_person", "person_id"),
        Index("ix_stint_duty_from", "duty_from"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("team.id", ondelete="CASCADE"))
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id", ondelete="RESTRICT"))
    start_date: Mapped[date] = mapped_column(Date)
    end_date: Mapped[date] = mapped_column(Date)
    duty_from: Mapped[date | None] = mapped_column(Date)
    duty_to: Mapped[date | None] = mapped_column(Date)

    team: Mapped[Team] = relationship(back_populates="stints")
    person: Mapped[Person] = relationship()

"""Who gets the morning digest (recipients), each digest sent or being sent (deliveries), and the scheduler's
runs that send them.

Imported at the end of models.py, so that every table is known to the one metadata. A delivery row is the
guard against sending twice: it is claimed (inserted) before the mail goes, under a unique key.
"""

from __future__ import annotations

import enum
from datetime import date, datetime

from sqlalchemy import CheckConstraint, Date, ForeignKey, Index, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .extensions import Model
from .models import Organisation, UTCDateTime, utcnow


class RecipientKind(enum.StrEnum):
    ORGANISATION = "organisation"
    DIVISION = "division"


class Recipient(Model):
    """An address that gets the morning digest: an organisation's own, or the division's summary."""

    __tablename__ = "recipient"
    __table_args__ = (
        CheckConstraint("kind IN ('organisation', 'division')", name="kind"),
        CheckConstraint(
            "(kind = 'division') = (organisation_id IS NULL)", name="division_has_no_organisation"
        ),
        UniqueConstraint("organisation_id", "email"),
        # NULLs never collide in a UNIQUE constraint, so the division's list needs its own index.
        Index(
            "uq_recipient_division_email",
            "email",
            unique=True,
            sqlite_where=text("kind = 'division'"),
            postgresql_where=text("kind = 'division'"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    organisation_id: Mapped[int | None] = mapped_column(ForeignKey("organisation.id", ondelete="CASCADE"))
    email: Mapped[str] = mapped_column(String(254))
    active: Mapped[bool] = mapped_column(default=True)
    note: Mapped[str] = mapped_column(String(200), default="")
    # Most organisations want no mail on a day with nothing to report; some ask for one anyway.
    send_empty: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    organisation: Mapped[Organisation | None] = relationship()


class DeliveryStatus(enum.StrEnum):
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"


class Delivery(Model):
    """One digest for one recipient on one date. The row is claimed (inserted) before the mail is sent,
    so the unique key makes a second sender, a second scheduler or a second run find it taken."""

    __tablename__ = "delivery"
    __table_args__ = (
        UniqueConstraint("digest_date", "recipient_id"),
        CheckConstraint("status IN ('sending', 'sent', 'failed')", name="status"),
        CheckConstraint("attempts >= 1", name="attempts_positive"),
        Index("ix_delivery_status_next_attempt", "status", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    digest_date: Mapped[date] = mapped_column(Date)
    recipient_id: Mapped[int] = mapped_column(ForeignKey("recipient.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(default=1)
    claimed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    claimed_by: Mapped[str] = mapped_column(String(100), default="")
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str] = mapped_column(Text, default="")
    subject: Mapped[str] = mapped_column(String(300), default="")
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    acknowledged_by: Mapped[str] = mapped_column(String(64), default="")

    recipient: Mapped[Recipient] = relationship()


class JobRun(Model):
    """The scheduler's heartbeat and each job's last run, for the health check and for catch-up."""

    __tablename__ = "job_run"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    last_started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_result: Mapped[str] = mapped_column(Text, default="")
    last_ok: Mapped[bool] = mapped_column(default=True)
    # For the daily digest: the last date whose digests a run completed (catch-up compares with it).
    last_digest_date: Mapped[date | None] = mapped_column(Date)

"""Claiming and sending the morning digests, once each, and retrying the ones that failed.

Each (digest date, recipient) is claimed by inserting its Delivery row before the mail is sent; the unique
key makes a second run, a second scheduler or a racing thread find it taken, so no digest goes out twice.
A failed send keeps its error and is retried with backoff (5, 15, 45 ... minutes) a bounded number of times.
Jobs and the CLI call `send_due_digests` and `retry_failed`; they decide what "today" is.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from flask import current_app
from sqlalchemy import ColumnElement, and_, or_, select, update
from sqlalchemy.exc import IntegrityError

from .digest import Addressee, RenderedDigest, addressee_of, digest_for
from .extensions import begin_write, db
from .mail import MailConnection, MailError, build_message
from .models import Delivery, DeliveryStatus, Organisation, Recipient, utcnow

log = logging.getLogger("dispatch.digest")

FIRST_BACKOFF = timedelta(minutes=5)
BACKOFF_FACTOR = 3
# A delivery still 'sending' after this long belongs to a sender that crashed: retry it.
STALE_SENDING = timedelta(minutes=30)
MAX_ERROR_CHARS = 2000


@dataclass(frozen=True)
class DeliveryFailure:
    email: str
    digest_date: date
    error: str


@dataclass(frozen=True)
class PlannedDigest:
    email: str
    digest_date: date
    subject: str
    body: str


@dataclass
class RunResult:
    """What one run did; `planned` is filled by a dry run only."""

    job: str
    digest_date: date | None = None
    dry_run: bool = False
    sent: int = 0
    failed: int = 0
    skipped_taken: int = 0
    skipped_empty: int = 0
    errors: list[DeliveryFailure] = field(default_factory=list)
    planned: list[PlannedDigest] = field(default_factory=list)
    duration: float = 0.0

    @property
    def ok(self) -> bool:
        return self.failed == 0

    def summary(self) -> str:
        planned = f" planned={len(self.planned)}" if self.dry_run else ""
        return (
            f"sent={self.sent} failed={self.failed} skipped_taken={self.skipped_taken} "
            f"skipped_empty={self.skipped_empty}{planned} duration={self.duration:.2f}s"
        )


def backoff(attempts: int) -> timedelta:
    """Wait before the next attempt after `attempts` failed ones: 5, 15, 45, 135 ... minutes."""
    return FIRST_BACKOFF * BACKOFF_FACTOR ** max(attempts - 1, 0)


def _max_attempts() -> int:
    return int(current_app.config.get("MAIL_MAX_ATTEMPTS", 5))


def _active_addressees() -> list[Addressee]:
    stmt = (
        select(Recipient)
        .outerjoin(Organisation, Recipient.organisation_id == Organisation.id)
        .where(Recipient.active.is_(True))
        # Organisations first, by code; the division's summary last.
        .order_by(Recipient.kind.desc(), Organisation.code, Recipient.email)
    )
    return [addressee_of(r) for r in db.session.scalars(stmt)]


def send_due_digests(
    digest_date: date, *, dry_run: bool = False, now: datetime | None = None, worker: str = ""
) -> RunResult:
    """Send every active recipient its digest for the date, once: claim, send, mark.

    A recipient whose delivery row exists (sent, failed or being sent by someone else) is skipped;
    failed ones are `retry_failed`'s. A dry run builds the digests and returns them in `planned`,
    claiming and sending nothing. Raises MailError before claiming anything when the mail settings
    cannot send at all (no MAIL_FROM).
    """
    started = time.monotonic()
    now = now or utcnow()
    result = RunResult(job="send-digests", digest_date=digest_date, dry_run=dry_run)
    addressees = _active_addressees()
    # No addressee, nothing to send: a fresh install without mail settings must not fail its daily job.
    connection = None if dry_run or not addressees else MailConnection()
    try:
        for addressee in addressees:
            if _delivery_exists(addressee.id, digest_date):
                result.skipped_taken += 1
                continue
            rendered = digest_for(addressee, digest_date, now)
            if rendered is None:
                result.skipped_empty += 1
                continue
            if connection is None:
                result.planned.append(
                    PlannedDigest(addressee.email, digest_date, rendered.subject, rendered.body)
                )
                continue
            delivery_id = _claim(addressee, digest_date, rendered.subject, worker)
            if delivery_id is None:
                result.skipped_taken += 1
                continue
            _send_and_mark(connection, delivery_id, addressee.email, digest_date, rendered, now, result)
    finally:
        db.session.rollback()
        if connection is not None:
            connection.close()
    result.duration = time.monotonic() - started
    _log(result)
    return result


def _delivery_exists(recipient_id: int, digest_date: date) -> bool:
    return (
        db.session.scalar(
            select(Delivery.id).where(
                Delivery.recipient_id == recipient_id, Delivery.digest_date == digest_date
            )
        )
        is not None
    )


def _claim(addressee: Addressee, digest_date: date, subject: str, worker: str) -> int | None:
    """Insert the delivery row in its own short transaction; None when another sender has it."""
    begin_write()
    delivery = Delivery(
        digest_date=digest_date,
        recipient_id=addressee.id,
        status=DeliveryStatus.SENDING,
        attempts=1,
        claimed_at=utcnow(),
        claimed_by=worker,
        subject=subject[:300],
    )
    db.session.add(delivery)
    try:
        db.session.flush()
    except IntegrityError:
        db.session.rollback()
        return None
    delivery_id = delivery.id
    db.session.commit()
    return delivery_id


def _send_and_mark(
    connection: MailConnection,
    delivery_id: int,
    email: str,
    digest_date: date,
    rendered: RenderedDigest,
    now: datetime,
    result: RunResult,
) -> None:
    error = ""
    try:
        connection.send(
            build_message(email, rendered.subject, rendered.body, sender=connection.settings.sender)
        )
    except MailError as exc:
        error = str(exc)
    begin_write()
    delivery = db.session.get(Delivery, delivery_id)
    assert delivery is not None, delivery_id
    if error:
        delivery.status = DeliveryStatus.FAILED
        delivery.last_error = error[:MAX_ERROR_CHARS]
        delivery.next_attempt_at = (
            now + backoff(delivery.attempts) if delivery.attempts < _max_attempts() else None
        )
        result.failed += 1
        result.errors.append(DeliveryFailure(email, digest_date, error))
    else:
        delivery.status = DeliveryStatus.SENT
        delivery.sent_at = utcnow()
        delivery.next_attempt_at = None
        result.sent += 1
    db.session.commit()


def _due(now: datetime, max_attempts: int) -> ColumnElement[bool]:
    """Deliveries a retry may take: failed and due, or stuck in 'sending' by a crashed sender."""
    return and_(
        Delivery.attempts < max_attempts,
        or_(
            and_(
                Delivery.status == DeliveryStatus.FAILED,
                Delivery.next_attempt_at.is_not(None),
                Delivery.next_attempt_at <= now,
            ),
            and_(Delivery.status == DeliveryStatus.SENDING, Delivery.claimed_at < now - STALE_SENDING),
        ),
    )


def retry_failed(now: datetime, *, worker: str = "") -> RunResult:
    """Send again each failed digest whose next attempt is due, taking each one atomically.

    The claim is an UPDATE guarded by the row's state: of two retriers, one changes the row and the
    other finds nothing to change. The digest is rebuilt from today's data, so a later correction is in.
    """
    started = time.monotonic()
    result = RunResult(job="retry-digests")
    max_attempts = _max_attempts()
    candidates = db.session.execute(
        select(Delivery.id, Delivery.attempts)
        .join(Delivery.recipient)
        .where(Recipient.active.is_(True), _due(now, max_attempts))
        .order_by(Delivery.digest_date, Delivery.id)
    ).all()
    db.session.rollback()
    connection = MailConnection() if candidates else None
    try:
        for delivery_id, attempts in candidates:
            if not _reclaim(delivery_id, attempts, now, max_attempts, worker):
                result.skipped_taken += 1
                continue
            delivery = db.session.get(Delivery, delivery_id)
            assert delivery is not None, delivery_id
            addressee = addressee_of(delivery.recipient)
            digest_date = delivery.digest_date
            rendered = digest_for(addressee, digest_date, now, force=True)
            assert rendered is not None
            assert connection is not None
            _send_and_mark(connection, delivery_id, addressee.email, digest_date, rendered, now, result)
    finally:
        db.session.rollback()
        if connection is not None:
            connection.close()
    result.duration = time.monotonic() - started
    _log(result)
    return result


def _reclaim(delivery_id: int, attempts: int, now: datetime, max_attempts: int, worker: str) -> bool:
    begin_write()
    outcome = db.session.execute(
        update(Delivery)
        .where(Delivery.id == delivery_id, Delivery.attempts == attempts, _due(now, max_attempts))
        .values(
            status=DeliveryStatus.SENDING,
            attempts=Delivery.attempts + 1,
            claimed_at=utcnow(),
            claimed_by=worker,
            next_attempt_at=None,
        )
        .execution_options(synchronize_session=False)
    )
    if outcome.rowcount != 1:  # type: ignore[attr-defined]
        db.session.rollback()
        return False
    db.session.commit()
    return True


def _log(result: RunResult) -> None:
    when = result.digest_date.isoformat() if result.digest_date else "-"
    log.info("%s %s%s: %s", result.job, when, " (dry run)" if result.dry_run else "", result.summary())

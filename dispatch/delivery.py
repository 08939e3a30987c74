"""Claiming and sending the morning digests, once each, and retrying the ones that failed.

Each (digest date, recipient) is claimed by inserting its Delivery row before the mail is sent; the unique
key makes a second run, a second scheduler or a racing thread find it taken, so no digest goes out twice.
A run builds every digest from figures read once (digest.DigestRun), claims them CLAIM_BATCH at a time, and
records each one's outcome as soon as the server has answered, on the ledger's thread while it sends the next.
A failed send keeps its error and is retried with backoff (5, 15, 45 ... minutes) a bounded number of times.
Jobs and the CLI call `send_due_digests` and `retry_failed`; they decide what "today" is. The deliveries
page calls `resend_now` for one failed digest an operator will not leave to the backoff.
"""

from __future__ import annotations

import logging
import time
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import ColumnElement, Connection, and_, bindparam, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from . import audit
from .actors import Actor
from .digest import Addressee, DigestRun, RenderedDigest, addressee_of
from .errors import Refusal
from .extensions import db
from .mail import MailConnection, MailError, compose
from .models import AuditRecord, Delivery, DeliveryStatus, Organisation, Recipient, utcnow
from .wareki import format_long
from .write_lock import (
    core_statement,
    core_transaction,
    ledger_timeout,
    own_connection,
    release_own_connection,
)

log = logging.getLogger("dispatch.digest")

FIRST_BACKOFF = timedelta(minutes=5)
BACKOFF_FACTOR = 3
# A delivery still 'sending' after this long belongs to a sender that crashed: retry it.
STALE_SENDING = timedelta(minutes=30)
MAX_ERROR_CHARS = 2000
# Digests claimed in one transaction before any of them is sent. A crash leaves at most this many claimed
# and unsent, which a retry sends once their claim is STALE_SENDING.
CLAIM_BATCH = 50


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
    ledger = None if connection is None else _Ledger()
    try:
        # Read once for the run; a row another sender claims after this is found at our own claim.
        taken = _taken(digest_date)
        due = [a for a in addressees if a.id not in taken]
        result.skipped_taken += len(addressees) - len(due)
        run = DigestRun(digest_date, now, due)
        for start in range(0, len(due), CLAIM_BATCH):
            ready: list[tuple[Addressee, RenderedDigest]] = []
            for addressee in due[start : start + CLAIM_BATCH]:
                rendered = run.render(addressee)
                if rendered is None:
                    result.skipped_empty += 1
                elif connection is None:
                    result.planned.append(
                        PlannedDigest(addressee.email, digest_date, rendered.subject, rendered.body)
                    )
                else:
                    ready.append((addressee, rendered))
            # The figures are read (at the first digest): let go of the snapshot while the run writes.
            db.session.rollback()
            if connection is None or ledger is None or not ready:
                continue
            claimed = ledger.claim([(a.id, r.subject) for a, r in ready], digest_date, worker)
            for (addressee, rendered), delivery_id in zip(ready, claimed, strict=True):
                if delivery_id is None:
                    result.skipped_taken += 1
                    continue
                _send_and_record(
                    connection, ledger, delivery_id, 1, addressee.email, digest_date, rendered, now, result
                )
    finally:
        db.session.rollback()
        if ledger is not None:
            ledger.close()
        if connection is not None:
            connection.close()
    return _finished(result, started)


def _taken(digest_date: date) -> set[int]:
    """Recipients whose digest for the date has a delivery row (sent, failed or being sent)."""
    return set(db.session.scalars(select(Delivery.recipient_id).where(Delivery.digest_date == digest_date)))


class _Ledger:
    """The run's writes to delivery rows, each a short transaction of its own: the claims of a batch,
    committed before any of its mail is sent, and each outcome as soon as it is known.

    They go through a connection the run keeps and statements built once, not through the ORM session: a
    thousand digests make a thousand of these transactions, and the session's bookkeeping for each (a
    pooled connection checked out and reset, the statement built and its cache key computed anew) cost
    several times the write itself.

    An outcome is committed on the ledger's own thread while the run sends the next digest: PostgreSQL's
    commit waits for the disk, and the run need not wait with it. Every other write (the next outcome, a
    claim, a take) and `close` first wait for it, so the writes keep their order on the one connection and
    its failure stops the run. A crash leaves at most two digests sent and not recorded, where a sequential
    run leaves one; a retry sends them again once their claim is STALE_SENDING, as it always has.
    """

    _CLAIM = insert(Delivery).returning(Delivery.id, sort_by_parameter_order=True)
    _RECORD = update(Delivery).where(Delivery.id == bindparam("delivery_id"))

    def __init__(self) -> None:
        # Read here, in the app's context, for the ledger's thread, which has none.
        self._timeout = ledger_timeout()
        self._conn = own_connection(self._timeout)
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="delivery-ledger")
        self._recording: Future[None] | None = None

    def _transaction(self) -> AbstractContextManager[Connection]:
        """A write on the ledger's connection, after the outcome being recorded is."""
        self._recorded()
        return core_transaction(self._conn, self._timeout)

    def _recorded(self) -> None:
        """Wait for the outcome being recorded, if any; its error, if it failed."""
        recording, self._recording = self._recording, None
        if recording is not None:
            recording.result()

    def claim(self, digests: list[tuple[int, str]], digest_date: date, worker: str) -> list[int | None]:
        """Insert the delivery rows of (recipient id, subject), together; for each, its id, or None when
        another sender has it (the unique key)."""
        claimed_at = utcnow()
        rows = [
            {
                "digest_date": digest_date,
                "recipient_id": recipient_id,
                "status": DeliveryStatus.SENDING,
                "attempts": 1,
                "claimed_at": claimed_at,
                "claimed_by": worker,
                "subject": subject[:300],
            }
            for recipient_id, subject in digests
        ]
        try:
            with self._transaction() as conn:
                return [int(delivery_id) for delivery_id in conn.execute(self._CLAIM, rows).scalars()]
        except IntegrityError:
            # Another sender holds one of them (a rare race): claim each on its own to learn which.
            return [self._claim_one(row) for row in rows]

    def _claim_one(self, row: dict[str, Any]) -> int | None:
        try:
            with self._transaction() as conn:
                return int(conn.execute(self._CLAIM, row).scalar_one())
        except IntegrityError:
            return None

    def reclaim(self, delivery_id: int, attempts: int, now: datetime, max_attempts: int, worker: str) -> bool:
        """Take a due delivery for another attempt; False when another retrier took it first."""
        return self._take(delivery_id, attempts, _due(now, max_attempts), worker)

    def take_failed(self, delivery_id: int, attempts: int, worker: str) -> bool:
        """Take a failed delivery for another attempt now, whatever its backoff; False when a retrier (or
        another operator) took it first."""
        return self._take(delivery_id, attempts, Delivery.status == DeliveryStatus.FAILED, worker)

    def _take(self, delivery_id: int, attempts: int, condition: ColumnElement[bool], worker: str) -> bool:
        """An UPDATE guarded by the row's state and attempts as they were read: of two takers, one changes
        the row and the other finds nothing to change."""
        with self._transaction() as conn:
            outcome = conn.execute(
                update(Delivery)
                .where(Delivery.id == delivery_id, Delivery.attempts == attempts, condition)
                .values(
                    status=DeliveryStatus.SENDING,
                    attempts=Delivery.attempts + 1,
                    claimed_at=utcnow(),
                    claimed_by=worker,
                    next_attempt_at=None,
                )
            )
        # Nothing changed when another retrier took it first.
        return outcome.rowcount == 1

    def record(
        self, delivery_id: int, outcome: dict[str, Any], audit_row: dict[str, Any] | None = None
    ) -> None:
        """The outcome on the delivery's row, and with it in the same transaction its audit record if any:
        committed on the ledger's thread, once the outcome before it is."""
        self._recorded()
        self._recording = self._thread.submit(self._record, delivery_id, outcome, audit_row)

    def _record(self, delivery_id: int, outcome: dict[str, Any], audit_row: dict[str, Any] | None) -> None:
        values = {"delivery_id": delivery_id, **outcome}
        if audit_row is None:
            # A run's outcome alone: one statement, which on PostgreSQL is one round trip.
            with core_statement(self._conn, self._timeout) as conn:
                conn.execute(self._RECORD, values)
            return
        with core_transaction(self._conn, self._timeout) as conn:
            conn.execute(self._RECORD, values)
            conn.execute(insert(AuditRecord), audit_row)

    def close(self) -> None:
        """Wait for the last outcome to be recorded (its error, if it failed), then let go."""
        try:
            self._recorded()
        finally:
            self._thread.shutdown()
            release_own_connection(self._conn)


def _send_and_record(
    connection: MailConnection,
    ledger: _Ledger,
    delivery_id: int,
    attempts: int,
    email: str,
    digest_date: date,
    rendered: RenderedDigest,
    now: datetime,
    result: RunResult,
) -> None:
    """Send the claimed digest, then record the outcome on its row (`attempts` counts this one)."""
    ledger.record(delivery_id, _send(connection, attempts, email, digest_date, rendered, now, result))


def _send(
    connection: MailConnection,
    attempts: int,
    email: str,
    digest_date: date,
    rendered: RenderedDigest,
    now: datetime,
    result: RunResult,
) -> dict[str, Any]:
    """Send a claimed digest; the outcome to record on its row (`attempts` counts this one)."""
    error = ""
    try:
        connection.send(compose(email, rendered.subject, rendered.body, sender=connection.settings.sender))
    except MailError as exc:
        error = str(exc)
    if error:
        outcome: dict[str, Any] = {
            "status": DeliveryStatus.FAILED,
            "last_error": error[:MAX_ERROR_CHARS],
            "next_attempt_at": now + backoff(attempts) if attempts < _max_attempts() else None,
        }
        result.failed += 1
        result.errors.append(DeliveryFailure(email, digest_date, error))
    else:
        outcome = {"status": DeliveryStatus.SENT, "sent_at": utcnow(), "next_attempt_at": None}
        result.sent += 1
    return outcome


def resend_now(delivery_id: int, actor: Actor, *, worker: str = "") -> RunResult:
    """Send a failed digest again at once, on an operator's word (配信記録's 今すぐ再送), still only once.

    The row is taken as a retry takes it, by an UPDATE guarded by its state (failed) and its attempts as read
    here, whatever its backoff: of this and a scheduler's retry (or a second operator), one sends and the
    other finds the row taken. The digest is rebuilt from today's data; the outcome and its audit record
    are written together.
    """
    started = time.monotonic()
    now = utcnow()
    found = db.session.execute(
        select(Delivery.attempts, Delivery.digest_date, Delivery.status, Delivery.last_error, Recipient)
        .join(Delivery.recipient)
        .where(Delivery.id == delivery_id)
    ).one_or_none()
    if found is None:
        raise Refusal("この配信の記録はありません。")
    attempts, digest_date, status, last_error, recipient = found
    if status != DeliveryStatus.FAILED:
        raise Refusal("失敗した日報だけを再送できます。この日報は送信済みか、送信中です。")
    if not recipient.active:
        raise Refusal(
            f"配信先 {recipient.email} は停止中のため再送しません。配信先を有効にしてから再送してください。"
        )
    addressee = addressee_of(recipient)
    db.session.rollback()
    result = RunResult(job="resend-digest", digest_date=digest_date)
    connection = MailConnection()
    ledger = _Ledger()
    try:
        if not ledger.take_failed(delivery_id, attempts, worker):
            raise Refusal(
                "この日報はいま別の処理（定時の再送など）が送信しています。配信記録で結果を確認してください。"
            )
        rendered = DigestRun(digest_date, now, [addressee]).render(addressee, force=True)
        db.session.rollback()
        assert rendered is not None
        outcome = _send(connection, attempts + 1, addressee.email, digest_date, rendered, now, result)
        ledger.record(
            delivery_id,
            outcome,
            _resend_record(delivery_id, actor, addressee, digest_date, (attempts, last_error), outcome),
        )
    finally:
        db.session.rollback()
        ledger.close()
        connection.close()
    return _finished(result, started)


def _resend_record(
    delivery_id: int,
    actor: Actor,
    addressee: Addressee,
    digest_date: date,
    failed: tuple[int, str],
    outcome: dict[str, Any],
) -> dict[str, Any]:
    """The audit record of an operator's resend: the failure it answered (attempts, error) and its outcome."""
    attempts, last_error = failed
    sent = outcome["status"] == DeliveryStatus.SENT
    return audit.new_record(
        "resend",
        "delivery",
        delivery_id,
        actor=actor,
        at=utcnow(),
        before={"status": DeliveryStatus.FAILED.value, "attempts": attempts, "last_error": last_error},
        after={
            "status": outcome["status"].value,
            "attempts": attempts + 1,
            "last_error": outcome.get("last_error", ""),
        },
        summary=f"{format_long(digest_date)}の日報 {addressee.email} を再送（{'送信済み' if sent else '失敗'}）",
    )


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
    candidates = [
        (delivery_id, attempts, digest_date, addressee_of(recipient))
        for delivery_id, attempts, digest_date, recipient in db.session.execute(
            select(Delivery.id, Delivery.attempts, Delivery.digest_date, Recipient)
            .join(Delivery.recipient)
            .where(Recipient.active.is_(True), _due(now, max_attempts))
            .order_by(Delivery.digest_date, Delivery.id)
        )
    ]
    db.session.rollback()
    if not candidates:
        return _finished(result, started)
    connection = MailConnection()
    ledger = _Ledger()
    runs: dict[date, DigestRun] = {}
    try:
        for delivery_id, attempts, digest_date, addressee in candidates:
            if not ledger.reclaim(delivery_id, attempts, now, max_attempts, worker):
                result.skipped_taken += 1
                continue
            if digest_date not in runs:
                # Every due digest of the date from the same figures, read once.
                runs[digest_date] = DigestRun(
                    digest_date, now, [a for _, _, day, a in candidates if day == digest_date]
                )
            rendered = runs[digest_date].render(addressee, force=True)
            db.session.rollback()
            assert rendered is not None
            _send_and_record(
                connection,
                ledger,
                delivery_id,
                attempts + 1,
                addressee.email,
                digest_date,
                rendered,
                now,
                result,
            )
    finally:
        db.session.rollback()
        ledger.close()
        connection.close()
    return _finished(result, started)


@dataclass(frozen=True)
class Waiting:
    """Failed digests that will be tried again once their backoff has passed, and the earliest such try."""

    count: int
    next_attempt_at: datetime | None


def waiting_retries() -> Waiting:
    """The failed digests still to be tried (a retry takes each once its next_attempt_at has come)."""
    count, first = db.session.execute(
        select(func.count(), func.min(Delivery.next_attempt_at))
        .join(Delivery.recipient)
        .where(
            Recipient.active.is_(True),
            Delivery.status == DeliveryStatus.FAILED,
            Delivery.next_attempt_at.is_not(None),
            Delivery.attempts < _max_attempts(),
        )
    ).one()
    db.session.rollback()
    return Waiting(int(count), first)


def _finished(result: RunResult, started: float) -> RunResult:
    result.duration = time.monotonic() - started
    _log(result)
    return result


def _log(result: RunResult) -> None:
    when = result.digest_date.isoformat() if result.digest_date else "-"
    log.info("%s %s%s: %s", result.job, when, " (dry run)" if result.dry_run else "", result.summary())

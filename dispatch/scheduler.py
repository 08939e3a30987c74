"""The job table and the scheduler process: `flask --app wsgi run-scheduler`, one process, never a web worker.

`job_table` is the one place that lists every scheduled job. Jobs are thin: each runs in an app context,
calls one function of delivery.py, records its JobRun (started, finished, result, ok), commits and logs one
line with counts and duration. What was sent lives in the database (Delivery rows, claimed before each
send), so a restarted scheduler, a catch-up run or a second scheduler started by mistake sends nothing
twice: the claim decides, not the scheduler.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
import time as timer
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from flask import Flask
from sqlalchemy.exc import IntegrityError

from . import delivery, export_jobs
from .config import TIME_ZONE
from .errors import Busy
from .extensions import db
from .models import JobRun
from .write_lock import writing

TOKYO = ZoneInfo(TIME_ZONE)
LOG = logging.getLogger("dispatch.scheduler")

# JobRun rows: the heartbeat the health check reads, and each job's last run.
HEARTBEAT_RUN = "scheduler"
DIGEST_RUN = "digest"
RETRY_RUN = "retry"
EXPORT_RUN = "export-jobs"
EXPORT_CLEANUP_RUN = "export-cleanup"

# A job late by up to an hour (the process was busy or the machine suspended) still runs, once: APScheduler's
# default grace of one second would silently drop it. max_instances=1: a slow run is never overlapped by the
# next. They are also passed to each job, because jobs get the scheduler's defaults only when it starts.
JOB_DEFAULTS: dict[str, Any] = {"coalesce": True, "max_instances": 1, "misfire_grace_time": 3600}

# The heartbeat beats every minute; five missed beats and the health check calls the scheduler stale.
HEARTBEAT_STALE = timedelta(minutes=5)


@dataclass(frozen=True)
class Outcome:
    """What a job reports: ok or not, and its counts as key=value text (the log line and JobRun)."""

    ok: bool
    summary: str
    # The digest job only: the date whose digests this run went through (catch-up compares with it).
    digest_date: date | None = None


@dataclass(frozen=True)
class Job:
    name: str
    trigger: BaseTrigger
    # Called with the app and the time it fires (aware, UTC).
    function: Callable[[Flask, datetime], Outcome]
    # A poll that may start while its last run is still busy, and returns at once when it is (the export
    # jobs: a build takes minutes, and APScheduler would log every skipped poll as a warning).
    max_instances: int = 1


def job_table(config: Mapping[str, Any]) -> tuple[Job, ...]:
    """Every scheduled job, when it runs and what it calls."""
    at = digest_time(config)
    return (
        Job("digest", CronTrigger(hour=at.hour, minute=at.minute, timezone=TOKYO), scheduled_digest),
        Job("retry", IntervalTrigger(minutes=retry_minutes(config), timezone=TOKYO), run_retry_job),
        Job("heartbeat", IntervalTrigger(minutes=1, timezone=TOKYO), record_heartbeat),
        Job(
            "export-jobs",
            IntervalTrigger(seconds=export_poll_seconds(config), timezone=TOKYO),
            run_export_jobs,
            max_instances=2,
        ),
        Job("export-cleanup", IntervalTrigger(hours=1, timezone=TOKYO), remove_expired_exports),
    )


def export_poll_seconds(config: Mapping[str, Any]) -> int:
    """EXPORT_JOB_POLL_SECONDS (5): how often the scheduler looks for queued .xlsx exports."""
    return max(1, int(config.get("EXPORT_JOB_POLL_SECONDS") or 5))


def digest_time(config: Mapping[str, Any]) -> time:
    """DIGEST_TIME ("08:00"), the hour and minute in Japan when the morning digests go out."""
    value = str(config.get("DIGEST_TIME") or "08:00").strip()
    try:
        hour, minute = (int(part) for part in value.split(":"))
        return time(hour, minute)
    except ValueError as exc:
        raise ValueError(f'DIGEST_TIME must be HH:MM in Japan time, such as "08:00"; got {value!r}') from exc


def retry_minutes(config: Mapping[str, Any]) -> int:
    """DIGEST_RETRY_MINUTES (10): how often the retry job looks for failed digests that are due."""
    value = config.get("DIGEST_RETRY_MINUTES") or 10
    try:
        minutes = int(str(value).strip())
    except ValueError:
        minutes = 0
    if minutes < 1:
        raise ValueError(f"DIGEST_RETRY_MINUTES must be a whole number of minutes, at least 1; got {value!r}")
    return minutes


# --- the process ---------------------------------------------------------------------------------------


def build_scheduler(app: Flask) -> BlockingScheduler:
    """The scheduler with every job of the table added, not started (tests inspect it)."""
    scheduler = BlockingScheduler(timezone=TOKYO, job_defaults=JOB_DEFAULTS)
    for job in job_table(app.config):
        options = {**JOB_DEFAULTS, "max_instances": job.max_instances}
        scheduler.add_job(_fire, job.trigger, args=(app, job), id=job.name, name=job.name, **options)
    return scheduler


def run_scheduler(app: Flask) -> None:
    """Beat once, catch up a missed digest of today, then run the jobs until SIGTERM or Ctrl-C."""
    scheduler = build_scheduler(app)
    now = datetime.now(UTC)
    record_heartbeat(app, now)
    LOG.info(
        "scheduler starting worker=%s digest_time=%s retry_minutes=%d jobs=%s",
        worker_name(),
        digest_time(app.config).strftime("%H:%M"),
        retry_minutes(app.config),
        ",".join(job.id for job in scheduler.get_jobs()),
    )
    catch_up(app, now)

    def _stop(signum: int, frame: object) -> None:
        # A run in progress finishes (its thread is joined at exit); nothing new starts.
        LOG.info("scheduler stopping signal=%s", signal.Signals(signum).name)
        scheduler.shutdown(wait=False)

    previous = signal.signal(signal.SIGTERM, _stop)
    try:
        scheduler.start()
    except KeyboardInterrupt:
        scheduler.shutdown(wait=False)
    finally:
        signal.signal(signal.SIGTERM, previous)


def catch_up(app: Flask, now: datetime) -> bool:
    """Run today's digest now if its time has passed and no run has gone through it (True if run).

    Today only: a digest missed yesterday stays missed rather than arriving a day late with stale figures.
    """
    local = now.astimezone(TOKYO)
    today = local.date()
    if local.time() < digest_time(app.config):
        return False
    with app.app_context():
        run = db.session.get(JobRun, DIGEST_RUN)
        done = run is not None and run.last_digest_date == today
        db.session.rollback()
    if done:
        return False
    LOG.info("catch-up digest_date=%s", today.isoformat())
    run_digest_job(app, today, now)
    return True


def worker_name() -> str:
    """Who claimed a delivery, in the Delivery rows: this host and process."""
    return f"scheduler@{socket.gethostname()}:{os.getpid()}"


def health(now: datetime | None = None) -> tuple[bool, dict[str, Any]]:
    """The scheduler's part of /healthz: degraded or not, and the fields to show (counts, no secrets).

    Degraded when the heartbeat is older than HEARTBEAT_STALE or the last digest run failed; a scheduler
    that never ran has no heartbeat age (null) rather than a made-up one.
    """
    now = now or datetime.now(UTC)
    beat = db.session.get(JobRun, HEARTBEAT_RUN)
    run = db.session.get(JobRun, DIGEST_RUN)
    age = None
    if beat is not None and beat.last_started_at is not None:
        age = max(0, int((now - beat.last_started_at).total_seconds()))
    stale = age is not None and age > HEARTBEAT_STALE.total_seconds()
    failed = run is not None and run.last_finished_at is not None and not run.last_ok
    return stale or failed, {
        "scheduler": {
            "heartbeat_age_seconds": age,
            "heartbeat_at": _iso(beat.last_started_at if beat else None),
            "stale": stale,
        },
        "digest": {
            "last_started_at": _iso(run.last_started_at if run else None),
            "last_finished_at": _iso(run.last_finished_at if run else None),
            "running": bool(
                run
                and run.last_started_at
                and (run.last_finished_at is None or run.last_finished_at < run.last_started_at)
            ),
            "ok": run.last_ok if run and run.last_finished_at else None,
            "result": run.last_result if run else "",
            "last_digest_date": run.last_digest_date.isoformat() if run and run.last_digest_date else None,
        },
    }


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


# --- the jobs ------------------------------------------------------------------------------------------


def scheduled_digest(app: Flask, now: datetime) -> Outcome:
    return run_digest_job(app, now.astimezone(TOKYO).date(), now)


def run_digest_job(app: Flask, today: date, now: datetime | None = None) -> Outcome:
    """Send the digests due today (covering yesterday)."""
    now = now or datetime.now(UTC)

    def work() -> Outcome:
        result = delivery.send_due_digests(today, now=now, worker=worker_name())
        return Outcome(
            ok=result.failed == 0 and not result.errors,
            summary=(
                f"digest_date={today.isoformat()} sent={result.sent} failed={result.failed} "
                f"skipped_taken={result.skipped_taken} skipped_empty={result.skipped_empty}"
            ),
            digest_date=today,
        )

    return run_job(app, DIGEST_RUN, now, work)


def run_retry_job(app: Flask, now: datetime) -> Outcome:
    """Send again the failed digests whose backoff has passed."""

    def work() -> Outcome:
        result = delivery.retry_failed(now, worker=worker_name())
        return Outcome(
            ok=result.failed == 0 and not result.errors,
            summary=f"sent={result.sent} failed={result.failed} skipped_taken={result.skipped_taken}",
        )

    return run_job(app, RETRY_RUN, now, work)


def record_heartbeat(app: Flask, now: datetime) -> Outcome:
    """The health check reads JobRun("scheduler").last_started_at to tell whether the scheduler is alive."""
    return run_job(app, HEARTBEAT_RUN, now, lambda: Outcome(ok=True, summary=f"worker={worker_name()}"))


def run_export_jobs(app: Flask, now: datetime) -> Outcome:
    """Build the queued .xlsx exports (export_jobs.py). Polled every few seconds: a poll that finds
    nothing queued records and logs nothing."""
    if not _BUILDING.acquire(blocking=False):
        return Outcome(ok=True, summary="building")
    try:
        with app.app_context():
            if not export_jobs.queued_ids():
                return Outcome(ok=True, summary="queued=0")

        def work() -> Outcome:
            result = export_jobs.run_pending(worker_name())
            return Outcome(
                ok=result.failed == 0,
                summary=f"built={result.built} failed={result.failed} skipped_taken={result.taken}",
            )

        return run_job(app, EXPORT_RUN, now, work)
    finally:
        _BUILDING.release()


# One export build at a time in this process: a workbook's memory is bounded, two at once would double it.
_BUILDING = threading.Lock()


def remove_expired_exports(app: Flask, now: datetime) -> Outcome:
    """Remove the .xlsx exports built longer than EXPORT_JOB_KEEP_HOURS ago."""
    return run_job(
        app,
        EXPORT_CLEANUP_RUN,
        now,
        lambda: Outcome(ok=True, summary=f"removed={export_jobs.remove_expired(now)}"),
    )


def run_job(app: Flask, name: str, now: datetime, work: Callable[[], Outcome]) -> Outcome:
    """Record the start, do the work, record the end and log one line; a failure is recorded, not raised."""
    started = timer.perf_counter()
    with app.app_context():
        _record_or_log(name, lambda run: _mark_started(run, now))
        try:
            outcome = work()
        except Exception as exc:
            db.session.rollback()
            LOG.exception("job=%s failed", name)
            outcome = Outcome(ok=False, summary=f"error={type(exc).__name__}")
        duration = timer.perf_counter() - started
        _record_or_log(name, lambda run: _mark_finished(run, outcome, now + timedelta(seconds=duration)))
    # The heartbeat beats every minute: its line is for debugging, the jobs' lines are the record.
    level = logging.DEBUG if name == HEARTBEAT_RUN else logging.INFO if outcome.ok else logging.WARNING
    LOG.log(level, "job=%s ok=%s %s duration_ms=%.1f", name, outcome.ok, outcome.summary, duration * 1000)
    return outcome


def _record_or_log(name: str, change: Callable[[JobRun], None]) -> None:
    """A job's bookkeeping that waited too long for the write lock (a large import writing) is logged and
    skipped, never allowed to stop the scheduler: the job itself still runs, and the next beat records."""
    try:
        _record(name, change)
    except Busy:
        LOG.warning("job=%s bookkeeping skipped: the database was busy", name)


def _mark_started(run: JobRun, now: datetime) -> None:
    run.last_started_at = now


def _mark_finished(run: JobRun, outcome: Outcome, finished: datetime) -> None:
    run.last_finished_at = finished
    run.last_ok = outcome.ok
    run.last_result = outcome.summary
    if outcome.digest_date is not None and (
        run.last_digest_date is None or outcome.digest_date > run.last_digest_date
    ):
        run.last_digest_date = outcome.digest_date


def _record(name: str, change: Callable[[JobRun], None]) -> None:
    """Change one JobRun row in its own committed transaction, creating the row on first use."""
    with writing():
        run = db.session.get(JobRun, name)
        if run is None:
            try:
                with db.session.begin_nested():
                    run = JobRun(name=name)
                    db.session.add(run)
            except IntegrityError:
                # A second scheduler created it between our read and our insert.
                run = db.session.get(JobRun, name)
                assert run is not None
        change(run)


def _fire(app: Flask, job: Job) -> None:
    job.function(app, datetime.now(UTC))

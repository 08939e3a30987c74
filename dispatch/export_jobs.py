"""Large .xlsx exports, built by the scheduler process as jobs rather than in a request.

openpyxl writes a workbook at some 20,000-40,000 entries a second: a million entries take minutes, far past
nginx's 60 s proxy timeout. So a page asked for a workbook of more than EXPORT_JOB_ROWS entries (config.py,
limits.py) records an ExportJob instead (``ask``) and shows its progress page; the scheduler process
(`flask run-scheduler`, or `flask run-export-jobs` at once) claims each queued job and builds it
(``run_pending``). Smaller workbooks are sent at once, CSV always streams.

- A job is claimed by an UPDATE guarded by its status (queued → running): of two schedulers, one builds it.
- What the file holds is decided when it is asked for: the filter's codes, the as-of date and, for a
  municipality user, its organisation, exactly as the immediate export would apply them.
- The build reads in its own (read) transaction and writes nothing but its progress: rows_written every
  exports.PROGRESS_EVERY entries, each in a short transaction of its own on a connection of its own, so no
  writer waits on the build (on SQLite the write lock is held for one UPDATE at a time, never while the
  workbook is written).
- The file is written 0600 under the instance folder (exports/), under a name nobody can guess, first as
  .partial and renamed once whole; it is removed EXPORT_JOB_KEEP_HOURS after it was built (``remove_expired``).
"""

from __future__ import annotations

import logging
import os
import secrets
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from flask import current_app
from sqlalchemy import Connection, select, update

from .errors import Busy
from .exports import TooManyRows, workbook_entry_count, write_workbook
from .extensions import db
from .limits import EXPORT_JOB_KEEP_HOURS, EXPORT_JOB_ROWS
from .models import Disaster, ExportJob, ExportStatus, Role, User, utcnow
from .private_files import PRIVATE_FILE, make_private_folder
from .query import EntryFilter
from .write_lock import core_transaction

LOG = logging.getLogger("dispatch.export_jobs")

KINDS = ("entries", "totals")
FOLDER = "exports"
UNFINISHED = (ExportStatus.QUEUED, ExportStatus.RUNNING)
# Shown when a build fails for a reason that is not the user's (the details go to the log).
BUILD_FAILED = (
    "Excel ファイルを作成できませんでした（{reason}）。もう一度出力してください。"
    "繰り返し失敗する場合は、システム管理者にお知らせください。"
)
INTERRUPTED = "作成が中断されました（スケジューラーが停止した可能性があります）。もう一度出力してください。"
# A job running this long was left by a scheduler that stopped: a million entries take minutes, not hours.
STUCK_AFTER = timedelta(hours=2)


def threshold() -> int:
    """Entries above which an .xlsx export is built as a job (EXPORT_JOB_ROWS)."""
    return int(current_app.config.get("EXPORT_JOB_ROWS", EXPORT_JOB_ROWS))


def keep_for() -> timedelta:
    return timedelta(hours=float(current_app.config.get("EXPORT_JOB_KEEP_HOURS", EXPORT_JOB_KEEP_HOURS)))


def ask(
    user: User, disaster: Disaster, kind: str, flt: EntryFilter, as_of: date, file_name: str
) -> ExportJob:
    """Queue a workbook for the user, under the write lock (its entries are counted when it is built);
    the same workbook asked for again while its job is queued, running or built is that job, so reloading
    the page queues nothing more."""
    assert kind in KINDS
    filters = flt.as_params()
    same = db.session.scalars(
        select(ExportJob)
        .where(
            ExportJob.user_id == user.id,
            ExportJob.disaster_id == disaster.id,
            ExportJob.kind == kind,
            ExportJob.as_of == as_of,
            ExportJob.status.in_([*UNFINISHED, ExportStatus.DONE]),
        )
        .order_by(ExportJob.id.desc())
    )
    for job in same:
        if job.filters == filters and job.visible_to == flt.visible_to:
            return job
    job = ExportJob(
        user_id=user.id,
        disaster_id=disaster.id,
        kind=kind,
        as_of=as_of,
        filters=filters,
        visible_to=flt.visible_to,
        status=ExportStatus.QUEUED,
        file_name=file_name,
    )
    db.session.add(job)
    db.session.flush()
    LOG.info(
        "export_job queued id=%d user=%s disaster=%s kind=%s rows_total=%d",
        job.id,
        user.username,
        disaster.slug,
        kind,
        job.rows_total,
    )
    return job


def job_for(user: User, disaster: Disaster, job_id: int) -> ExportJob | None:
    """The job if this user may see it: the one who asked for it, or an administrator."""
    job = db.session.get(ExportJob, job_id)
    if job is None or job.disaster_id != disaster.id:
        return None
    if job.user_id != user.id and user.user_role is not Role.ADMIN:
        return None
    return job


def file_of(job: ExportJob) -> Path | None:
    """The built workbook, while it is kept."""
    if job.status != ExportStatus.DONE or not job.file_path:
        return None
    path = _folder() / Path(job.file_path).name
    return path if path.is_file() else None


def job_filter(job: ExportJob) -> EntryFilter:
    """The filter the job was asked with, as the immediate export would have applied it."""
    params: dict[str, Any] = dict(job.filters)
    for name in ("date_from", "date_to"):
        if name in params:
            params[name] = date.fromisoformat(params[name])
    return EntryFilter(**params, visible_to=job.visible_to)


# --- the scheduler's side -----------------------------------------------------------------------------


@dataclass(frozen=True)
class BuildResult:
    built: int = 0
    failed: int = 0
    taken: int = 0


def queued_ids() -> list[int]:
    ids = list(
        db.session.scalars(
            select(ExportJob.id).where(ExportJob.status == ExportStatus.QUEUED).order_by(ExportJob.created_at)
        )
    )
    db.session.rollback()
    return ids


def run_pending(worker: str) -> BuildResult:
    """Claim and build every queued job, oldest first (in an app context)."""
    built = failed = taken = 0
    for job_id in queued_ids():
        if not claim(job_id, worker):
            taken += 1
            continue
        if build(job_id):
            built += 1
        else:
            failed += 1
    return BuildResult(built, failed, taken)


def claim(job_id: int, worker: str) -> bool:
    """Take a queued job for building; False when another scheduler took it first."""
    with db.engine.connect() as conn, core_transaction(conn) as tx:
        outcome = tx.execute(
            update(ExportJob)
            .where(ExportJob.id == job_id, ExportJob.status == ExportStatus.QUEUED)
            .values(status=ExportStatus.RUNNING, started_at=utcnow(), claimed_by=worker[:100])
        )
    return outcome.rowcount == 1


def build(job_id: int) -> bool:
    """Write a claimed job's workbook; record done or failed with its message. True when built."""
    job = db.session.get(ExportJob, job_id)
    assert job is not None and job.status == ExportStatus.RUNNING
    folder = _folder()
    make_private_folder(folder)
    final = folder / f"{job.id}-{secrets.token_urlsafe(16)}.xlsx"
    partial = final.with_suffix(".partial")
    with db.engine.connect() as conn:
        try:
            disaster = db.session.get_one(Disaster, job.disaster_id)
            flt = job_filter(job)
            _record(conn, job_id, rows_total=workbook_entry_count(disaster, flt, job.as_of))
            descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE)
            with os.fdopen(descriptor, "wb") as file:
                write_workbook(file, disaster, flt, job.as_of, progress=lambda n: _progress(conn, job_id, n))
            os.replace(partial, final)
        except Exception as exc:
            db.session.rollback()
            partial.unlink(missing_ok=True)
            if isinstance(exc, TooManyRows):
                message = str(exc)
            else:
                LOG.exception("export_job failed id=%d", job_id)
                message = BUILD_FAILED.format(reason=type(exc).__name__)
            _record(conn, job_id, status=ExportStatus.FAILED, error=message, finished_at=utcnow())
            LOG.warning("export_job failed id=%d error=%s", job_id, message)
            return False
        # The read transaction the workbook was written in ends before the job is marked done.
        db.session.rollback()
        size = final.stat().st_size
        _record(
            conn,
            job_id,
            status=ExportStatus.DONE,
            file_path=f"{FOLDER}/{final.name}",
            file_size=size,
            finished_at=utcnow(),
        )
    LOG.info("export_job built id=%d bytes=%d", job_id, size)
    return True


def remove_expired(now: datetime | None = None) -> int:
    """Remove the files of jobs built longer than EXPORT_JOB_KEEP_HOURS ago (the job says so afterwards),
    and fail the jobs left running past STUCK_AFTER by a scheduler that stopped. Returns the files removed."""
    now = now or datetime.now(UTC)
    cutoff = now - keep_for()
    expired = list(
        db.session.execute(
            select(ExportJob.id, ExportJob.file_path).where(
                ExportJob.status == ExportStatus.DONE, ExportJob.finished_at < cutoff
            )
        )
    )
    stuck = list(
        db.session.scalars(
            select(ExportJob.id).where(
                ExportJob.status == ExportStatus.RUNNING, ExportJob.started_at < now - STUCK_AFTER
            )
        )
    )
    db.session.rollback()
    folder = _folder()
    with db.engine.connect() as conn:
        for job_id, file_path in expired:
            (folder / Path(file_path).name).unlink(missing_ok=True)
            _record(conn, job_id, status=ExportStatus.EXPIRED, file_path="", finished_at=now)
        for job_id in stuck:
            for partial in folder.glob(f"{job_id}-*.partial"):
                partial.unlink(missing_ok=True)
            _record(conn, job_id, status=ExportStatus.FAILED, error=INTERRUPTED, finished_at=now)
    return len(expired)


def _folder() -> Path:
    """instance/exports, or EXPORT_JOB_FOLDER where set (tests, a larger disk)."""
    return Path(current_app.config.get("EXPORT_JOB_FOLDER") or Path(current_app.instance_path) / FOLDER)


def _progress(conn: Connection, job_id: int, written: int) -> None:
    """rows_written, in a transaction of its own; a busy database skips one report, never the build."""
    try:
        _record(conn, job_id, rows_written=written)
    except Busy:
        LOG.warning("export_job progress skipped id=%d: the database was busy", job_id)


def _record(conn: Connection, job_id: int, **values: Any) -> None:
    with core_transaction(conn) as tx:
        tx.execute(update(ExportJob).where(ExportJob.id == job_id).values(**values))

"""The scheduler: its job table, catch-up on start, the jobs' records, the heartbeat and /healthz.

Nothing here sleeps or starts the scheduler's loop: the tests inspect `build_scheduler` and call the
functions its jobs call (catch_up, run_digest_job, run_retry_job, record_heartbeat) at chosen times. Mail
goes to a real SMTP server (aiosmtpd on 127.0.0.1, conftest's smtp_server).

The demo disaster on the digest date 2023-08-01 (figures as of 2023-07-31): 五城目町 received staff that
day, so its digest is due; the division's summary always is while staff are deployed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from functools import partial
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from flask import Flask
from flask.testing import FlaskCliRunner
from sqlalchemy import select

from dispatch import scheduler
from dispatch.extensions import db
from dispatch.models import Delivery, DeliveryStatus, JobRun
from dispatch.recipients import add_recipient
from dispatch.seeding import seed_founding_case
from tests import factories
from tests.conftest import make_app
from tests.racing import at_once

TOKYO = ZoneInfo("Asia/Tokyo")
DAY = date(2023, 8, 1)
AT_7 = datetime(2023, 8, 1, 7, 0, tzinfo=TOKYO)
AT_8 = datetime(2023, 8, 1, 8, 0, tzinfo=TOKYO)
AT_9 = datetime(2023, 8, 1, 9, 0, tzinfo=TOKYO)
GOJOME_ADDRESS = "bousai@town.gojome.lg.jp"
DIVISION_ADDRESS = "sogo-bousai@pref.akita.lg.jp"
ADDRESSES = sorted([GOJOME_ADDRESS, DIVISION_ADDRESS])


@pytest.fixture
def seeded(mail_app: Flask) -> Flask:
    """The demo disaster, an address at 五城目町 and one on the division's list."""
    with mail_app.app_context():
        seed_founding_case()
        add_recipient(factories.org(factories.GOJOME), GOJOME_ADDRESS, actor=factories.admin("test"))
        add_recipient(None, DIVISION_ADDRESS, actor=factories.admin("test"))
        db.session.commit()
    return mail_app


def job_run(app: Flask, name: str) -> JobRun | None:
    with app.app_context():
        run = db.session.get(JobRun, name)
        if run is not None:
            db.session.expunge(run)
        return run


def deliveries(app: Flask) -> list[tuple[date, str, str, int]]:
    with app.app_context():
        return sorted(
            (d.digest_date, d.recipient.email, d.status, d.attempts)
            for d in db.session.scalars(select(Delivery))
        )


@pytest.fixture
def job_log(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    """The scheduler's log lines (the handler is the process's; in tests, pytest's)."""
    caplog.set_level(logging.INFO, logger="dispatch.scheduler")
    return caplog


# --- the job table ----------------------------------------------------------------------------------------


def test_the_scheduler_has_exactly_the_listed_jobs_in_tokyo_time(app: Flask) -> None:
    built = scheduler.build_scheduler(app)
    assert isinstance(built, BlockingScheduler)
    assert not built.running
    assert built.timezone == TOKYO
    jobs = built.get_jobs()
    assert [job.id for job in jobs] == ["digest", "retry", "heartbeat", "export-jobs", "export-cleanup"]
    assert [job.id for job in jobs] == [job.name for job in scheduler.job_table(app.config)]
    for job in jobs:
        # APScheduler's default grace is one second: a job a little late would be dropped silently.
        # The export poll alone may start beside a running build, to return at once (no skipped-run warnings).
        overlap = 2 if job.id == "export-jobs" else 1
        assert (job.misfire_grace_time, job.coalesce, job.max_instances) == (3600, True, overlap), job.id
        assert job.trigger.timezone == TOKYO, job.id

    digest, retry, heartbeat, export_jobs, export_cleanup = jobs
    assert isinstance(digest.trigger, CronTrigger)
    fields = {f.name: str(f) for f in digest.trigger.fields}
    assert (fields["hour"], fields["minute"], fields["second"]) == ("8", "0", "0")
    assert digest.trigger.get_next_fire_time(None, AT_7) == AT_8
    assert digest.trigger.get_next_fire_time(None, AT_9) == AT_8 + timedelta(days=1)
    assert isinstance(retry.trigger, IntervalTrigger)
    assert retry.trigger.interval == timedelta(minutes=10)
    assert isinstance(heartbeat.trigger, IntervalTrigger)
    assert heartbeat.trigger.interval == timedelta(minutes=1)
    # Queued .xlsx exports are looked for every 5 seconds; built ones older than a day removed hourly.
    assert isinstance(export_jobs.trigger, IntervalTrigger)
    assert export_jobs.trigger.interval == timedelta(seconds=5)
    assert isinstance(export_cleanup.trigger, IntervalTrigger)
    assert export_cleanup.trigger.interval == timedelta(hours=1)


def test_digest_time_and_retry_interval_come_from_the_configuration(
    app_with: Callable[..., Flask],
) -> None:
    app = app_with(DIGEST_TIME="07:30", DIGEST_RETRY_MINUTES=15)
    digest, retry, *_ = scheduler.build_scheduler(app).get_jobs()
    assert digest.trigger.get_next_fire_time(None, AT_7) == datetime(2023, 8, 1, 7, 30, tzinfo=TOKYO)
    assert retry.trigger.interval == timedelta(minutes=15)


@pytest.mark.parametrize("value", ["8", "8時", "25:00", "08:60", "eight"])
def test_a_digest_time_that_is_not_hh_mm_is_refused_with_its_value(value: str) -> None:
    with pytest.raises(ValueError, match="DIGEST_TIME must be HH:MM"):
        scheduler.job_table({"DIGEST_TIME": value})


@pytest.mark.parametrize("value", ["0", "-5", "ten", 2.5])
def test_a_retry_interval_that_is_not_whole_minutes_is_refused(value: object) -> None:
    with pytest.raises(ValueError, match="DIGEST_RETRY_MINUTES must be a whole number of minutes"):
        scheduler.job_table({"DIGEST_RETRY_MINUTES": value})


def test_run_scheduler_refuses_a_bad_digest_time_before_starting(app_with: Callable[..., Flask]) -> None:
    app = app_with(DIGEST_TIME="8.00")
    result = app.test_cli_runner().invoke(args=["run-scheduler"])
    assert result.exit_code == 1
    assert "DIGEST_TIME must be HH:MM in Japan time" in result.output
    assert job_run(app, scheduler.HEARTBEAT_RUN) is None


def test_run_scheduler_beats_catches_up_and_then_blocks_in_the_scheduler(
    app: Flask, runner: FlaskCliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The command wires the parts together; the loop itself is APScheduler's (replaced here)."""
    calls: list[str] = []
    monkeypatch.setattr(scheduler, "catch_up", lambda app, now: calls.append("catch_up") or False)
    monkeypatch.setattr(BlockingScheduler, "start", lambda self: calls.append("start"))
    before = datetime.now(UTC)
    result = runner.invoke(args=["run-scheduler"])
    assert result.exit_code == 0, f"{result.output}{result.exception!r}"
    assert calls == ["catch_up", "start"]
    beat = job_run(app, scheduler.HEARTBEAT_RUN)
    assert beat is not None and beat.last_started_at is not None
    assert beat.last_started_at >= before.replace(microsecond=0)
    assert beat.last_ok


# --- catch-up -------------------------------------------------------------------------------------------


def test_a_missed_digest_is_sent_when_the_scheduler_starts_at_nine(seeded: Flask, smtp_server: Any) -> None:
    assert scheduler.catch_up(seeded, AT_9) is True
    assert sorted(smtp_server.recipients()) == ADDRESSES
    assert deliveries(seeded) == [
        (DAY, GOJOME_ADDRESS, DeliveryStatus.SENT, 1),
        (DAY, DIVISION_ADDRESS, DeliveryStatus.SENT, 1),
    ]
    [gojome] = smtp_server.to(GOJOME_ADDRESS)
    assert gojome["Subject"].startswith("【応援職員派遣 日報】")
    assert "令和5年7月31日時点" in gojome["Subject"]
    run = job_run(seeded, scheduler.DIGEST_RUN)
    assert run is not None
    assert (run.last_digest_date, run.last_ok) == (DAY, True)
    assert run.last_result.startswith("digest_date=2023-08-01 sent=2 failed=0 skipped_taken=0")
    assert run.last_started_at == AT_9
    assert run.last_finished_at is not None and run.last_finished_at >= AT_9


def test_before_the_digest_time_catch_up_does_nothing(seeded: Flask, smtp_server: Any) -> None:
    assert scheduler.catch_up(seeded, AT_7) is False
    assert scheduler.catch_up(seeded, AT_8 - timedelta(seconds=1)) is False
    assert smtp_server.messages == []
    assert deliveries(seeded) == []
    assert job_run(seeded, scheduler.DIGEST_RUN) is None


def test_catch_up_twice_sends_once(seeded: Flask, smtp_server: Any) -> None:
    assert scheduler.catch_up(seeded, AT_9) is True
    assert scheduler.catch_up(seeded, AT_9 + timedelta(minutes=5)) is False
    assert sorted(smtp_server.recipients()) == ADDRESSES


def test_after_the_eight_oclock_run_a_restart_sends_nothing(seeded: Flask, smtp_server: Any) -> None:
    outcome = scheduler.scheduled_digest(seeded, AT_8)
    assert (outcome.ok, outcome.digest_date) == (True, DAY)
    assert scheduler.catch_up(seeded, AT_9) is False
    assert sorted(smtp_server.recipients()) == ADDRESSES


def test_catch_up_sends_todays_digest_only_never_yesterdays(seeded: Flask, smtp_server: Any) -> None:
    """Down all of 7/31 and started on 8/1 at 09:00: the 8/1 digests go, the missed 7/31 ones do not."""
    with seeded.app_context():
        db.session.add(JobRun(name=scheduler.DIGEST_RUN, last_digest_date=date(2023, 7, 30)))
        db.session.commit()
    assert scheduler.catch_up(seeded, AT_9) is True
    assert {row[0] for row in deliveries(seeded)} == {DAY}
    assert len(smtp_server.messages) == 2


@pytest.mark.parametrize("how", ["catch_up", "scheduled"])
def test_two_schedulers_by_mistake_send_each_digest_once(
    seeded: Flask, smtp_server: Any, mail_app_with: Callable[..., Flask], how: str
) -> None:
    """Two processes' worth of apps, their jobs started at the same moment: the delivery claim decides."""
    apps = [seeded, mail_app_with()]
    job, at = (scheduler.catch_up, AT_9) if how == "catch_up" else (scheduler.scheduled_digest, AT_8)
    at_once(*(partial(job, app, at) for app in apps))
    assert sorted(smtp_server.recipients()) == ADDRESSES
    assert deliveries(seeded) == [
        (DAY, GOJOME_ADDRESS, DeliveryStatus.SENT, 1),
        (DAY, DIVISION_ADDRESS, DeliveryStatus.SENT, 1),
    ]
    run = job_run(seeded, scheduler.DIGEST_RUN)
    assert run is not None and run.last_digest_date == DAY
    with apps[1].app_context():
        db.engine.dispose()


# --- failures and retries -------------------------------------------------------------------------------


def test_with_the_mail_server_down_the_run_is_recorded_failed_and_the_retry_job_delivers(
    seeded: Flask, smtp_server: Any
) -> None:
    smtp_server.stop()
    outcome = scheduler.catch_up(seeded, AT_9)
    assert outcome is True
    run = job_run(seeded, scheduler.DIGEST_RUN)
    assert run is not None
    assert run.last_ok is False
    assert run.last_result.startswith("digest_date=2023-08-01 sent=0 failed=2")
    # The run went through the date: a restart does not send the day's digests again, the retry job does.
    assert run.last_digest_date == DAY
    assert scheduler.catch_up(seeded, AT_9 + timedelta(minutes=1)) is False
    assert [row[2] for row in deliveries(seeded)] == [DeliveryStatus.FAILED, DeliveryStatus.FAILED]

    smtp_server.start()
    # The first retry is due five minutes after the failure.
    early = scheduler.run_retry_job(seeded, AT_9 + timedelta(minutes=1))
    assert early.ok and early.summary.startswith("sent=0 failed=0")
    retried = scheduler.run_retry_job(seeded, AT_9 + timedelta(minutes=10))
    assert retried.ok
    assert retried.summary.startswith("sent=2 failed=0")
    assert sorted(smtp_server.recipients()) == ADDRESSES
    assert deliveries(seeded) == [
        (DAY, GOJOME_ADDRESS, DeliveryStatus.SENT, 2),
        (DAY, DIVISION_ADDRESS, DeliveryStatus.SENT, 2),
    ]
    again = scheduler.run_retry_job(seeded, AT_9 + timedelta(hours=3))
    assert again.summary.startswith("sent=0 failed=0")
    assert len(smtp_server.messages) == 2
    retry = job_run(seeded, scheduler.RETRY_RUN)
    assert retry is not None and retry.last_ok


def test_a_job_that_raises_is_recorded_and_caught_up_again(
    mail_app_with: Callable[..., Flask], job_log: pytest.LogCaptureFixture
) -> None:
    """Without MAIL_FROM no digest can go out: the run fails before claiming anything, and says so."""
    app = mail_app_with(MAIL_FROM="")
    with app.app_context():
        seed_founding_case()
        add_recipient(None, DIVISION_ADDRESS, actor=factories.admin("test"))
        db.session.commit()
    assert scheduler.catch_up(app, AT_9) is True
    run = job_run(app, scheduler.DIGEST_RUN)
    assert run is not None
    assert (run.last_ok, run.last_result, run.last_digest_date) == (False, "error=MailError", None)
    assert any("job=digest failed" in r.getMessage() and r.exc_info for r in job_log.records)
    assert deliveries(app) == []
    # Not gone through: the next start tries again.
    assert scheduler.catch_up(app, AT_9 + timedelta(minutes=30)) is True


def test_each_job_logs_one_line_with_counts_and_duration(
    seeded: Flask, smtp_server: Any, job_log: pytest.LogCaptureFixture
) -> None:
    scheduler.run_digest_job(seeded, DAY, AT_8)
    lines = [r.getMessage() for r in job_log.records if r.name == "dispatch.scheduler"]
    [line] = [m for m in lines if m.startswith("job=digest")]
    assert line.startswith(
        "job=digest ok=True digest_date=2023-08-01 sent=2 failed=0 skipped_taken=0 skipped_empty="
    )
    assert " duration_ms=" in line


# --- heartbeat and /healthz -----------------------------------------------------------------------------


@pytest.fixture
def health(app: Flask) -> Iterator[Any]:
    client = app.test_client()

    def get() -> tuple[int, dict[str, Any]]:
        response = client.get("/healthz")
        return response.status_code, response.get_json()

    yield get


def test_health_without_a_scheduler_has_no_heartbeat_age(health: Any) -> None:
    status, body = health()
    assert status == 200
    assert body["status"] == "ok"
    assert body["database"] == "ok"
    assert body["scheduler"]["heartbeat_age_seconds"] is None
    assert body["digest"] == {
        "last_started_at": None,
        "last_finished_at": None,
        "running": False,
        "ok": None,
        "result": "",
        "last_digest_date": None,
    }


def test_health_reports_the_heartbeat_age(app: Flask, health: Any) -> None:
    scheduler.record_heartbeat(app, datetime.now(UTC) - timedelta(seconds=30))
    status, body = health()
    assert (status, body["status"]) == (200, "ok")
    assert 30 <= body["scheduler"]["heartbeat_age_seconds"] < 40
    assert body["scheduler"]["stale"] is False


def test_a_heartbeat_older_than_five_minutes_is_degraded_not_down(app: Flask, health: Any) -> None:
    scheduler.record_heartbeat(app, datetime.now(UTC) - timedelta(minutes=6))
    status, body = health()
    assert (status, body["status"]) == (200, "degraded")
    assert 360 <= body["scheduler"]["heartbeat_age_seconds"] < 370
    assert body["scheduler"]["stale"] is True


def test_health_reports_the_last_digest_run_and_degrades_when_it_failed(
    seeded: Flask, smtp_server: Any, app: Flask, health: Any
) -> None:
    scheduler.record_heartbeat(app, datetime.now(UTC))
    scheduler.catch_up(seeded, AT_9)
    status, body = health()
    assert (status, body["status"]) == (200, "ok")
    assert body["digest"]["ok"] is True
    assert body["digest"]["last_digest_date"] == "2023-08-01"
    assert body["digest"]["last_started_at"] == "2023-08-01T00:00:00+00:00"
    assert body["digest"]["result"].startswith("digest_date=2023-08-01 sent=2 failed=0")

    smtp_server.stop()
    with seeded.app_context():
        add_recipient(None, "second@pref.akita.lg.jp", actor=factories.admin("test"))
        db.session.commit()
    scheduler.run_digest_job(seeded, DAY, AT_9 + timedelta(minutes=30))
    status, body = health()
    assert (status, body["status"]) == (200, "degraded")
    assert body["digest"]["ok"] is False
    assert body["digest"]["result"].startswith("digest_date=2023-08-01 sent=0 failed=1 skipped_taken=2")
    # No secrets and nothing a stranger could use: no addresses, no error text, no settings.
    text = str(body)
    for secret in ("@", "127.0.0.1", "MAIL", str(smtp_server.port)):
        assert secret not in text


def test_health_is_503_only_when_the_database_is_unreachable(tmp_path: Any) -> None:
    app = make_app(f"sqlite:///{tmp_path}/missing/dir/dispatch.sqlite")
    response = app.test_client().get("/healthz")
    assert response.status_code == 503
    assert response.get_json() == {"status": "error", "database": "unreachable"}
    with app.app_context():
        db.engine.dispose()

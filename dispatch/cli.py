"""`flask --app wsgi COMMAND`: the commands commit; the services they call only flush."""

from __future__ import annotations

import csv
import io
import json
import os
import socket
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from zoneinfo import ZoneInfo

import click
from flask import Flask, current_app
from flask.cli import with_appcontext
from flask_migrate import upgrade
from sqlalchemy import select

from . import clock, export_jobs, tally_check
from .accounts import create_user, find_user, reset_password
from .actors import CLI_ACTOR
from .backup import BackupError, backup_sqlite
from .closing import closed_dates
from .config import TIME_ZONE
from .delivery import RunResult, Waiting, retry_failed, send_due_digests, waiting_retries
from .errors import ImportRefused, Refusal
from .extensions import db
from .importing import check_import, write_import
from .intervals import Interval, interval_json, interval_totals
from .limits import MAX_IMPORT_BYTES
from .lookup import LookupRefused, find_organisation
from .mail import MailError
from .masterdata import load_master_data
from .models import Disaster, Organisation, Role, utcnow
from .persons import Window, with_persons
from .recipients import DIVISION_LABEL, add_recipient
from .reports import status_report
from .roster_import import check_roster
from .roster_writing import write_roster
from .scheduler import job_table, run_scheduler, worker_name
from .seeding import seed_founding_case, seed_sending_case
from .totals import Dimension, totals
from .wareki import WarekiError, format_long, parse_date
from .write_lock import writing


class DateParam(click.ParamType):
    """Dates as 2023-07-20, 2023/7/20 or 令和5年7月20日."""

    name = "date"

    def convert(self, value: object, param: click.Parameter | None, ctx: click.Context | None) -> date:
        if isinstance(value, date):
            return value
        try:
            return parse_date(str(value))
        except WarekiError as exc:
            self.fail(str(exc), param, ctx)


DATE = DateParam()


def _disaster(slug: str) -> Disaster:
    disaster = db.session.scalar(select(Disaster).where(Disaster.slug == slug))
    if disaster is None:
        raise click.ClickException(f"災害「{slug}」は登録されていません。")
    return disaster


def _organisation(text: str) -> Organisation:
    """An organisation by the one look-up (code, code without its check digit, name, kana, prefix)."""
    try:
        return find_organisation(text)
    except LookupRefused as refusal:
        raise Refusal(
            str(refusal) if refusal.candidates else f"団体コード「{text}」は登録されていません。"
        ) from refusal


@contextmanager
def _command_writes() -> Iterator[None]:
    """A command's write under the one write lock: committed once, or rolled back with the refusal as the
    command's error (exit 1)."""
    try:
        with writing():
            yield
    except Refusal as exc:
        raise click.ClickException(str(exc)) from exc


@click.command("init-db")
@with_appcontext
def init_db_command() -> None:
    """Create or upgrade the schema and load master data; safe to run again."""
    upgrade()
    with _command_writes():
        counts = load_master_data()
    click.echo(
        f"schema at head; master data: {counts.organisations:,} local governments and {counts.wards} wards "
        f"({counts.added:,} added, {counts.deactivated} no longer listed and deactivated), {counts.duties} duties"
    )


@click.command("seed-demo")
@with_appcontext
def seed_demo_command() -> None:
    """Load the founding case (令和5年7月14日からの大雨, Akita) and the invented disaster seen from a sending
    prefecture (noto-2024-drill); safe to run again."""
    for seed in (seed_founding_case, seed_sending_case):
        with _command_writes():
            result = seed()
            slug = result.disaster.slug
        click.echo(f"{slug}: added {result.added_entries} entries, {result.added_person_days} person-days")


def read_import_file(file: Path) -> bytes:
    """The file a command imports; one byte past the limit is enough for the importer to refuse it as too large."""
    with file.open("rb") as source:
        return source.read(MAX_IMPORT_BYTES + 1)


@contextmanager
def import_refusals(file: Path) -> Iterator[None]:
    """An import command's refusal as its exit: every bad line on stderr, then one line saying nothing was written
    (exit 1). Busy, or any other refusal, is its message alone."""
    try:
        yield
    except ImportRefused as exc:
        for error in exc.errors:
            click.echo(f"{file.name}:{error.describe()}", err=True)
        raise click.ClickException(
            f"取り込みを中止しました: {len(exc.errors)}件のエラー。何も登録していません。"
        ) from exc
    except Refusal as exc:
        raise click.ClickException(str(exc)) from exc


@click.command("import-dispatches")
@with_appcontext
@click.argument("disaster_slug")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--encoding", type=click.Choice(["auto", "utf-8", "cp932"]), default="auto", show_default=True)
@click.option("--reason", default="", help="required when rows fall on closed (確定) days")
def import_dispatches_command(disaster_slug: str, file: Path, encoding: str, reason: str) -> None:
    """Import a .csv or .xlsx of dispatches: all rows or none."""
    disaster = _disaster(disaster_slug)
    data = read_import_file(file)
    with import_refusals(file):
        # Read and checked before the write lock, which only the writing takes (as on the import page).
        checked = check_import(disaster, data, file.name, encoding=encoding)
        with writing(), _import_progress(len(checked.drafts)) as progress:
            result = write_import(checked, CLI_ACTOR, reason, progress)
    click.echo(f"imported {len(result.entry_ids)} rows, {result.person_days} person-days")


@click.command("import-roster")
@with_appcontext
@click.argument("disaster_slug")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--encoding", type=click.Choice(["auto", "utf-8", "cp932"]), default="auto", show_default=True)
@click.option("--reason", default="", help="required when the roster changes closed (確定) days")
def import_roster_command(disaster_slug: str, file: Path, encoding: str, reason: str) -> None:
    """Import people and teams from a .csv or .xlsx: all rows or none; the roster's entries follow."""
    disaster = _disaster(disaster_slug)
    data = read_import_file(file)
    with import_refusals(file):
        checked = check_roster(disaster, data, file.name, encoding)
        with writing():
            result = write_roster(disaster, checked, CLI_ACTOR, reason)
    click.echo(f"imported {len(checked.rows)} rows: {result.people} new people, {result.teams} new teams")


@contextmanager
def _import_progress(total: int) -> Iterator[Callable[[int, int], None] | None]:
    """A progress bar of the rows written, on a terminal only: a script or a log gets the last line alone."""
    if not sys.stderr.isatty():
        yield None
        return
    with click.progressbar(
        length=total, label="書き込み中", file=sys.stderr, show_pos=True, show_percent=True
    ) as bar:
        shown = 0

        def advance(done: int, _total: int) -> None:
            nonlocal shown
            bar.update(done - shown)
            shown = done

        yield advance


@click.command("totals")
@with_appcontext
@click.argument("disaster_slug")
@click.option("--as-of", "as_of", type=DATE, default=None, help="default: today in Asia/Tokyo")
@click.option("--from", "date_from", type=DATE, default=None, help="with --to: person-days from this date")
@click.option("--to", "date_to", type=DATE, default=None, help="with --from: person-days up to this date")
@click.option("--by", type=click.Choice([d.value for d in Dimension]), default="operation")
@click.option("--format", "fmt", type=click.Choice(["table", "json", "csv"]), default="table")
def totals_command(
    disaster_slug: str, as_of: date | None, date_from: date | None, date_to: date | None, by: str, fmt: str
) -> None:
    """Person-days as of a date, or from one date to another (--from/--to, both included), by one dimension."""
    interval = _interval(as_of, date_from, date_to)
    disaster = _disaster(disaster_slug)
    if interval is None:
        as_of = as_of or clock.today()
        result = totals(disaster, as_of, Dimension(by))
    else:
        as_of = interval.end
        result = interval_totals(disaster, interval, Dimension(by))
    since = None if interval is None else interval.start
    result = with_persons(disaster, result, Window(as_of, since))
    if fmt == "json":
        shown = result.as_json() if interval is None else interval_json(result, interval)
        click.echo(json.dumps(shown, ensure_ascii=False, indent=2))
        return
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(["key", "name", "person_days", "active"])
        for row in result.rows:
            writer.writerow([row.key, row.name, row.person_days, row.active])
        sys.stdout.write(out.getvalue())
        return
    if interval is None:
        click.echo(f"{disaster_slug} {format_long(as_of)}時点（{as_of.isoformat()}）")
    else:
        span = f"{interval.start.isoformat()}〜{interval.end.isoformat()}"
        click.echo(f"{disaster_slug} {interval.label()}（{span}）")
    persons = "" if result.persons is None else f"実人数 {result.persons:,}人 / "
    click.echo(f"{persons}延べ人数 {result.person_days:,}人 / 当日派遣人数 {result.active:,}人")
    width = max((len(r.key) for r in result.rows), default=4)
    for row in result.rows:
        click.echo(f"{row.key:<{width}}  {row.person_days:>8,}  {row.active:>5,}  {row.name}")


def _interval(as_of: date | None, date_from: date | None, date_to: date | None) -> Interval | None:
    """The --from/--to interval, or None for totals as of a date."""
    if date_from is None and date_to is None:
        return None
    if as_of is not None:
        raise click.UsageError("--as-of と --from/--to は同時に指定できません。")
    if date_from is None or date_to is None:
        raise click.UsageError("--from と --to は両方指定してください。")
    if date_to < date_from:
        raise click.UsageError(
            f"終了日（{format_long(date_to)}）が開始日（{format_long(date_from)}）より前です。"
        )
    return Interval(date_from, date_to)


@click.command("check-totals")
@with_appcontext
@click.argument("disaster_slug")
@click.option("--rebuild", is_flag=True, help="recompute the tally from the entries when it differs")
def check_totals_command(disaster_slug: str, rebuild: bool) -> None:
    """Compare the tally behind every total with the entries; exit 1 when they differ (unless rebuilt)."""
    disaster_id = _disaster(disaster_slug).id
    differences = tally_check.check(disaster_id)
    if not differences:
        click.echo(f"{disaster_slug}: the tally agrees with the entries")
        return
    for diff in differences:
        click.echo(
            f"{disaster_slug}: tally {diff.dim.name}: {diff.missing} rows missing or wrong, {diff.extra} rows extra; "
            f"e.g. {', '.join(map(str, diff.sample))}",
            err=True,
        )
    if not rebuild:
        raise click.ClickException("集計表が派遣の記録と一致しません。--rebuild で作り直せます。")
    with _command_writes():
        rows = tally_check.rebuild(disaster_id)
        if tally_check.check(disaster_id):
            raise Refusal("作り直した集計表も一致しません。何も変更していません。")
    click.echo(f"{disaster_slug}: tally rebuilt from the entries ({rows} rows); it now agrees")


@click.command("create-user")
@with_appcontext
@click.argument("username")
@click.option("--role", type=click.Choice([r.value for r in Role]), required=True)
@click.option("--org", "org_code", default=None, help="organisation code (required for municipality)")
@click.option("--display-name", default="")
@click.option("--password-stdin", is_flag=True, help="read the password from standard input")
@click.option(
    "--reset-if-exists",
    is_flag=True,
    help="when the user exists, give it a new generated password instead of failing",
)
def create_user_command(
    username: str,
    role: str,
    org_code: str | None,
    display_name: str,
    password_stdin: bool,
    reset_if_exists: bool,
) -> None:
    """Create a user; without --password-stdin a strong password is generated and printed once."""
    existing = find_user(username)
    if existing is not None and reset_if_exists:
        name = existing.username
        with _command_writes():
            password = reset_password(existing, actor=CLI_ACTOR)
        click.echo(f"user {name} exists; new password (shown once): {password}")
        return
    given = sys.stdin.readline().rstrip("\n") if password_stdin else None
    with _command_writes():
        organisation = _organisation(org_code) if org_code else None
        user, password = create_user(
            username,
            Role(role),
            actor=CLI_ACTOR,
            organisation=organisation,
            display_name=display_name,
            password=given,
        )
        created = f"created user {user.username} ({user.user_role.label})"
    click.echo(created)
    if not password_stdin:
        click.echo(f"password (shown once): {password}")


@click.command("status-report")
@with_appcontext
@click.argument("disaster_slug")
@click.option("--as-of", "as_of", type=DATE, default=None, help="default: today in Asia/Tokyo")
def status_report_command(disaster_slug: str, as_of: date | None) -> None:
    """The status report (状況報告) in the prefecture's format, as of a date."""
    as_of = as_of or clock.today()
    disaster = _disaster(disaster_slug)
    closed = as_of in closed_dates(disaster, [as_of])
    click.echo(status_report(disaster, as_of, closed).text(), nl=False)


@click.command("backup")
@with_appcontext
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
def backup_command(path: Path) -> None:
    """A consistent copy of the SQLite database while the app runs, verified by opening it."""
    try:
        result = backup_sqlite(current_app.config["SQLALCHEMY_DATABASE_URI"], path)
    except BackupError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(
        f"backup {result.path}: {result.entries} entries, schema {result.schema_revision}, "
        f"{result.size_bytes:,} bytes, integrity ok"
    )


@click.command("send-digests")
@with_appcontext
@click.option(
    "--date", "digest_date", type=DATE, default=None, help="digest date (default: today in Asia/Tokyo)"
)
@click.option("--dry-run", is_flag=True, help="show what would be sent; claim and send nothing")
def send_digests_command(digest_date: date | None, dry_run: bool) -> None:
    """Send the morning digests due for a date (covering the day before), then retry failed ones."""
    digest_date = digest_date or clock.today()
    worker = f"cli {socket.gethostname()} pid {os.getpid()}"
    try:
        result = send_due_digests(digest_date, dry_run=dry_run, worker=worker)
        if dry_run:
            for planned in result.planned:
                click.echo(f"{planned.email}\t{planned.subject}")
            click.echo(f"dry run {digest_date.isoformat()}: {result.summary()}")
            return
        retried = retry_failed(utcnow(), worker=worker)
    except MailError as exc:
        raise click.ClickException(f"日報を送信できません。 / Cannot send digests: {exc}") from exc
    except Refusal as exc:
        # Busy: the delivery ledger waited a minute for the write lock in vain; an unclaimed digest is sent by
        # the next run.
        raise click.ClickException(str(exc)) from exc
    click.echo(f"digests {digest_date.isoformat()}: {result.summary()}")
    click.echo(f"retries: {retried.summary()}")
    _say_waiting(waiting_retries())
    _fail_on_undelivered(result, retried)


def _say_waiting(waiting: Waiting) -> None:
    """Digests that failed before and wait for their backoff: not a failure of this run (exit 0 when
    nothing failed now), but nobody should think them sent."""
    if not waiting.count or waiting.next_attempt_at is None:
        return
    local = waiting.next_attempt_at.astimezone(ZoneInfo(TIME_ZONE))
    click.echo(
        f"再送待ちの日報が{waiting.count}件あります。次の再送は{format_long(local.date())} {local:%H:%M}以降です"
        "（run-scheduler が送ります。その時刻を過ぎてから send-digests を実行しても、配信記録の「今すぐ再送」でも送れます）。"
        f" / waiting: {waiting.count} digest(s) to be retried, the next at {local:%Y-%m-%d %H:%M} {TIME_ZONE}."
    )


def _fail_on_undelivered(*results: RunResult) -> None:
    errors = [error for result in results for error in result.errors]
    if not errors:
        return
    for error in errors:
        click.echo(f"  {error.digest_date.isoformat()} {error.email}: {error.error}", err=True)
    raise click.ClickException(
        f"日報{len(errors)}件を送信できませんでした（後で再送します）。"
        f" / {len(errors)} digest(s) could not be sent; they will be retried."
    )


@click.command("add-recipient")
@with_appcontext
@click.argument("target", nargs=-1, required=True, metavar="ORG_CODE EMAIL | --division EMAIL")
@click.option(
    "--division",
    is_flag=True,
    help="the division's list (the whole-disaster summary) instead of an organisation's; no ORG_CODE",
)
@click.option("--note", default="", help="whose address it is, e.g. 総務課防災係")
@click.option("--send-empty", is_flag=True, help="send a digest even on a day with nothing to report")
def add_recipient_command(target: tuple[str, ...], division: bool, note: str, send_empty: bool) -> None:
    """Add an address for the morning digest: ORG_CODE EMAIL, or --division EMAIL."""
    if len(target) != (1 if division else 2):
        raise click.UsageError("give ORG_CODE EMAIL, or --division EMAIL")
    with _command_writes():
        organisation = None if division else _organisation(target[0])
        owner = organisation.label if organisation else DIVISION_LABEL
        email = add_recipient(
            organisation, target[-1], actor=CLI_ACTOR, note=note, send_empty=send_empty
        ).email
    click.echo(f"added recipient {email} for {owner}" + (" (also on empty days)" if send_empty else ""))


@click.command("run-export-jobs")
@with_appcontext
def run_export_jobs_command() -> None:
    """Build the queued .xlsx exports now, as the scheduler would (exit 1 when one failed)."""
    result = export_jobs.run_pending(worker_name())
    click.echo(f"built={result.built} failed={result.failed} skipped_taken={result.taken}")
    if result.failed:
        raise click.ClickException(
            f"Excel の出力{result.failed}件を作成できませんでした（進捗ページに理由があります）。"
        )


@click.command("run-scheduler")
@with_appcontext
def run_scheduler_command() -> None:
    """Run the scheduler process (digests at DIGEST_TIME, retries, heartbeat) until stopped; run one only."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    try:
        job_table(app.config)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc
    run_scheduler(app)


COMMANDS = (
    backup_command,
    status_report_command,
    create_user_command,
    init_db_command,
    seed_demo_command,
    import_dispatches_command,
    import_roster_command,
    totals_command,
    check_totals_command,
    send_digests_command,
    add_recipient_command,
    run_scheduler_command,
    run_export_jobs_command,
)


def register(app: Flask) -> None:
    # Disasters, operations and organisations have their own module, which takes this one's helpers.
    from . import catalog_cli, requests_cli

    for command in (*COMMANDS, *catalog_cli.COMMANDS, *requests_cli.COMMANDS):
        app.cli.add_command(command)

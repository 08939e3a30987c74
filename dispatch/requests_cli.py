"""`flask --app wsgi fill` and `import-requests`: thin like pages; the import commits once under the write
lock, a refusal its error (exit 1) with every bad line."""

from __future__ import annotations

import csv
import io
import json
import sys
from datetime import date
from pathlib import Path

import click
from flask.cli import with_appcontext

from . import clock
from .actors import CLI_ACTOR
from .cli import DATE, _disaster, import_refusals, read_import_file
from .fill import FILL_COLUMNS, fill_on, long_term_fill
from .request_import import check_requests, write_requests
from .wareki import format_long
from .write_lock import writing

LONG_TERM_COLUMNS = ("destination", "job_type", "requested", "secured", "ratio")


@click.command("fill")
@with_appcontext
@click.argument("disaster_slug")
@click.option("--date", "day", type=DATE, default=None, help="default: today in Asia/Tokyo")
@click.option("--fiscal-year", "fiscal_year", type=int, default=None, help="中長期: persons per fiscal year")
@click.option("--format", "fmt", type=click.Choice(["table", "json", "csv"]), default="table")
@click.option(
    "--by-request", is_flag=True, help="each request's own figures too (fill.json?by=request; not in CSV)"
)
def fill_command(
    disaster_slug: str, day: date | None, fiscal_year: int | None, fmt: str, by_request: bool
) -> None:
    """Requested, assigned, on duty and unfilled per destination × duty on a date (as fill.json)."""
    disaster = _disaster(disaster_slug)
    if fiscal_year is not None:
        long_term = long_term_fill(disaster, fiscal_year, day)
        if fmt == "json":
            click.echo(json.dumps(long_term.as_json(), ensure_ascii=False, indent=2))
            return
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(LONG_TERM_COLUMNS)
        for line in long_term.rows:
            figures = line.as_json()
            writer.writerow([figures[column] for column in LONG_TERM_COLUMNS])
        sys.stdout.write(out.getvalue())
        return
    fill = fill_on(disaster, day or clock.today(), by_request=by_request)
    if fmt == "json":
        click.echo(json.dumps(fill.as_json(), ensure_ascii=False, indent=2))
        return
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(FILL_COLUMNS)
        for row in fill.rows:
            shown = row.as_json()
            writer.writerow([shown[column] for column in FILL_COLUMNS])
        sys.stdout.write(out.getvalue())
        return
    click.echo(f"{disaster_slug} {format_long(fill.date)}（{fill.date.isoformat()}）")
    click.echo(
        f"要請 {fill.requested:,}人/日 / 調整済み {fill.assigned:,}人/日 / 従事 {fill.on_duty:,}人 / "
        f"未充足 {fill.unfilled:,}人"
    )
    for row in fill.rows:
        click.echo(
            f"{row.destination}  {row.duty:<16} {row.requested:>6,} {row.assigned:>6,} {row.on_duty:>6,} "
            f"{row.unfilled:>6,}  {row.destination_name} {row.duty_name}"
            + (f"（未割当 {row.unassigned:,}人）" if row.unassigned else "")
        )
    for item in fill.requests or ():
        click.echo(
            f"要請{item.request} {item.destination} {item.duty} {item.job_type or '—'} "
            f"{item.requested:>6,} {item.assigned:>6,} {item.on_duty:>6,} {item.unfilled:>6,}"
        )


@click.command("import-requests")
@with_appcontext
@click.argument("disaster_slug")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--encoding", type=click.Choice(["auto", "utf-8", "cp932"]), default="auto", show_default=True)
def import_requests_command(disaster_slug: str, file: Path, encoding: str) -> None:
    """Import requests (要請) from a .csv or .xlsx: all rows or none."""
    disaster = _disaster(disaster_slug)
    data = read_import_file(file)
    with import_refusals(file):
        # Read and checked before the write lock, which only the writing takes.
        checked = check_requests(disaster, data, file.name, encoding=encoding)
        with writing():
            made = write_requests(disaster, checked, CLI_ACTOR)
            revisions = sum(len(r.revisions) for r in made)
    click.echo(f"imported {len(made)} requests, {revisions} revisions")


COMMANDS = (fill_command, import_requests_command)

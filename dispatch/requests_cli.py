"""`flask --app wsgi fill` and `import-requests`: thin like pages; the import commits once under the write
lock, a refusal its error (exit 1) with every bad line."""

from __future__ import annotations

import csv
import io
import json
import sys
from datetime import date

import click
from flask.cli import with_appcontext

from . import clock
from .cli import DATE, _disaster
from .fill import FILL_COLUMNS, fill_on, long_term_fill
from .wareki import format_long

LONG_TERM_COLUMNS = ("destination", "job_type", "requested", "secured", "ratio")


@click.command("fill")
@with_appcontext
@click.argument("disaster_slug")
@click.option("--date", "day", type=DATE, default=None, help="default: today in Asia/Tokyo")
@click.option("--fiscal-year", "fiscal_year", type=int, default=None, help="中長期: persons per fiscal year")
@click.option("--format", "fmt", type=click.Choice(["table", "json", "csv"]), default="table")
def fill_command(disaster_slug: str, day: date | None, fiscal_year: int | None, fmt: str) -> None:
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
    fill = fill_on(disaster, day or clock.today())
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
        )


COMMANDS = (fill_command,)

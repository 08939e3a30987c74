"""`flask --app wsgi COMMAND` for disasters, operations and organisations: thin like pages, each write
committed once under the write lock (cli._command_writes), a refusal its error (exit 1)."""

from __future__ import annotations

import csv
import io
import json
import sys
from datetime import date

import click
from flask.cli import with_appcontext

from .actors import CLI_ACTOR
from .catalog import (
    close_disaster,
    create_disaster,
    create_operation,
    end_operation,
    reopen_disaster,
    reopen_operation,
)
from .cli import DATE, _command_writes, _disaster, _organisation
from .lookup import find_operation
from .models import Organisation
from .organisations import everything
from .wareki import format_long

ORGANISATION_COLUMNS = ("code", "kind", "name", "kana", "prefecture", "active")


@click.command("create-disaster")
@with_appcontext
@click.argument("slug")
@click.option("--name", required=True)
@click.option("--start", "start_date", type=DATE, required=True)
@click.option(
    "--prefecture",
    "prefectures",
    multiple=True,
    help="an affected prefecture (被災都道府県) by code or name; repeat for several",
)
def create_disaster_command(slug: str, name: str, start_date: date, prefectures: tuple[str, ...]) -> None:
    """Register a disaster."""
    with _command_writes():
        disaster = create_disaster(slug, name, start_date, CLI_ACTOR, [_organisation(p) for p in prefectures])
        struck = "、".join(p.name for p in disaster.prefectures)
    click.echo(
        f"created disaster {slug}: {name.strip()} ({format_long(start_date)}～)"
        + (f" {struck}" if struck else "")
    )


@click.command("create-operation")
@with_appcontext
@click.argument("disaster_slug")
@click.argument("code")
@click.option("--name", required=True)
@click.option("--order", "display_order", type=int, default=None)
def create_operation_command(disaster_slug: str, code: str, name: str, display_order: int | None) -> None:
    """Add an operation (派遣区分) to a disaster."""
    with _command_writes():
        create_operation(_disaster(disaster_slug), code, name, CLI_ACTOR, display_order)
    click.echo(f"created operation {code}: {name.strip()}")


@click.command("end-operation")
@with_appcontext
@click.argument("disaster_slug")
@click.argument("code")
@click.option(
    "--on", "on", type=DATE, required=True, help="the end date (終了日), the last day of the period"
)
def end_operation_command(disaster_slug: str, code: str, on: date) -> None:
    """End an operation on a date: the report reads 「…から…まで」 and no later entry is accepted."""
    with _command_writes():
        operation = find_operation(_disaster(disaster_slug), code)
        end_operation(operation, on, CLI_ACTOR)
        name = operation.name
    click.echo(f"ended operation {code}: {name}, {format_long(on)}まで")


@click.command("reopen-operation")
@with_appcontext
@click.argument("disaster_slug")
@click.argument("code")
def reopen_operation_command(disaster_slug: str, code: str) -> None:
    """Reopen an ended operation: 継続中 again, entries after the old end date accepted."""
    with _command_writes():
        operation = find_operation(_disaster(disaster_slug), code)
        reopen_operation(operation, CLI_ACTOR)
        name = operation.name
    click.echo(f"reopened operation {code}: {name}（継続中）")


@click.command("close-disaster")
@with_appcontext
@click.argument("slug")
@click.option("--on", "on", type=DATE, required=True, help="the date the response ended (終了日)")
def close_disaster_command(slug: str, on: date) -> None:
    """Close a disaster on a date: no more entries, no more digests, until it is reopened."""
    with _command_writes():
        disaster = close_disaster(_disaster(slug), on, CLI_ACTOR)
        name = disaster.name
    click.echo(f"closed disaster {slug}: {name}, {format_long(on)}終了")


@click.command("reopen-disaster")
@with_appcontext
@click.argument("slug")
def reopen_disaster_command(slug: str) -> None:
    """Reopen a closed disaster: entries and digests again."""
    with _command_writes():
        disaster = reopen_disaster(_disaster(slug), CLI_ACTOR)
        name = disaster.name
    click.echo(f"reopened disaster {slug}: {name}")


@click.command("organisations")
@with_appcontext
@click.option(
    "--format", "fmt", type=click.Choice(["table", "csv", "json"]), default="table", show_default=True
)
def organisations_command(fmt: str) -> None:
    """Every organisation (団体マスタ) in code order: local governments, designated cities' wards, other
    bodies; inactive ones too."""
    rows = [_organisation_row(org) for org in everything()]
    if fmt == "json":
        click.echo(
            json.dumps(
                [dict(zip(ORGANISATION_COLUMNS, row, strict=True)) for row in rows],
                ensure_ascii=False,
                indent=2,
            )
        )
        return
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(ORGANISATION_COLUMNS)
        writer.writerows([*row[:5], "true" if row[5] else "false"] for row in rows)
        sys.stdout.write(out.getvalue())
        return
    for code, kind, name, _, prefecture, active in rows:
        click.echo(f"{code:<6}  {kind:<12}  {prefecture or '-':<6}  {'' if active else '(無効) '}{name}")
    click.echo(f"{len(rows):,} organisations, {sum(1 for row in rows if row[5]):,} active")


def _organisation_row(org: Organisation) -> tuple[str, str, str, str, str, bool]:
    prefecture = org.prefecture.code if org.prefecture is not None else ""
    return org.code, org.kind, org.name, org.kana, prefecture, org.active


COMMANDS = (
    create_disaster_command,
    create_operation_command,
    end_operation_command,
    reopen_operation_command,
    close_disaster_command,
    reopen_disaster_command,
    organisations_command,
)

"""`flask backup PATH`: a verified copy of the SQLite database."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskCliRunner

pytestmark = pytest.mark.sqlite_only


def test_backup_copies_every_entry(runner: FlaskCliRunner, demo: None, tmp_path: Path) -> None:
    target = tmp_path / "backups" / "dispatch.sqlite"

    result = runner.invoke(args=["backup", str(target)])

    assert result.exit_code == 0, result.output
    assert "549 entries" in result.output
    with sqlite3.connect(target) as copy:
        assert copy.execute("SELECT count(*), sum(headcount) FROM entry").fetchone() == (549, 2319)
        assert copy.execute("PRAGMA journal_mode").fetchone() == ("delete",)


def test_backup_never_overwrites(app: Flask, runner: FlaskCliRunner, tmp_path: Path) -> None:
    target = tmp_path / "dispatch.sqlite"
    target.write_text("keep me")
    result = runner.invoke(args=["backup", str(target)])
    assert result.exit_code == 1
    assert "exists already" in result.output
    assert target.read_text() == "keep me"

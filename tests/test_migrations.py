"""The migrations build exactly the schema the models describe, on SQLite and on PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskCliRunner
from flask_migrate import downgrade, upgrade
from sqlalchemy import Boolean, Date, create_engine, make_url, text

from dispatch.extensions import db
from tests.conftest import POSTGRES_URL, make_app


def test_migrations_match_the_models(runner: FlaskCliRunner) -> None:
    result = runner.invoke(args=["db", "check"])
    assert result.exit_code == 0, result.output


@pytest.fixture
def scratch_url(tmp_path: Path) -> Iterator[str]:
    """An empty database of the suite's kind: a SQLite file, or a PostgreSQL database of its own (never the
    suite's, which other tests share)."""
    if not POSTGRES_URL:
        yield f"sqlite:///{tmp_path / 'scratch.sqlite'}"
        return
    server = make_url(POSTGRES_URL)
    name = f"{server.database}_migrations"
    admin = create_engine(server.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield server.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _rows(sql: str, **types: Any) -> list[tuple[Any, ...]]:
    """Rows of a raw statement, with the columns named in ``types`` read as those types (SQLite hands back
    text for a date and an integer for a boolean)."""
    return [tuple(row) for row in db.session.execute(text(sql).columns(**types))]


def test_0007_ends_closed_operations_on_their_last_entry(scratch_url: str) -> None:
    """Revision 0007: a closed operation ends on its last entry's date (one without entries is open), a
    closed disaster is closed on its last entry's date; and back."""
    app = make_app(scratch_url)
    with app.app_context():
        upgrade(revision="0006")
        stamp = datetime(2023, 8, 1, tzinfo=UTC)
        for sql in (
            "INSERT INTO organisation (id, code, kind, name, kana, district, area) VALUES"
            " (1, '050008', 'prefecture', '秋田県', '', '', ''), (2, '053619', 'town', '五城目町', '', '', '')",
            "INSERT INTO duty (id, code, name_ja, name_en) VALUES (1, 'water_supply', '給水業務', '')",
            "INSERT INTO disaster (id, slug, name, start_date, closed) VALUES"
            " (1, 'old-rain', '大雨', '2023-07-14', :yes), (2, 'open-rain', '雨', '2023-07-14', :no)",
            "INSERT INTO operation (id, disaster_id, code, name, display_order, closed) VALUES"
            " (1, 1, 'ended', '終了した派遣', 1, :yes), (2, 1, 'empty', '派遣のない区分', 2, :yes),"
            " (3, 1, 'open', '継続中の派遣', 3, :no), (4, 2, 'other', '別の派遣', 1, :no)",
        ):
            db.session.execute(text(sql), {"yes": True, "no": False})
        for entry_id, day, operation in ((1, "2023-07-20", 1), (2, "2023-08-31", 1), (3, "2023-09-05", 3)):
            db.session.execute(
                text(
                    "INSERT INTO entry (id, date, operation_id, sender_id, sender_unit, destination_id, duty_id,"
                    " headcount, note, created_by, created_at, updated_by, updated_at) VALUES"
                    " (:id, :day, :op, 1, '', 2, 1, 3, '', 't', :at, 't', :at)"
                ),
                {"id": entry_id, "day": date.fromisoformat(day), "op": operation, "at": stamp},
            )
        db.session.commit()

        upgrade()
        assert _rows("SELECT code, end_date FROM operation ORDER BY id", end_date=Date()) == [
            ("ended", date(2023, 8, 31)),
            ("empty", None),
            ("open", None),
            ("other", None),
        ]
        assert _rows("SELECT slug, closed_on FROM disaster ORDER BY id", closed_on=Date()) == [
            ("old-rain", date(2023, 9, 5)),
            ("open-rain", None),
        ]
        assert _rows("SELECT code, active, parent_id FROM organisation ORDER BY id", active=Boolean()) == [
            ("050008", True, None),
            ("053619", True, None),
        ]
        assert _rows("SELECT count(*) FROM entry") == [(3,)]
        db.session.commit()

        downgrade(revision="0006")
        assert _rows("SELECT code, closed FROM operation ORDER BY id", closed=Boolean()) == [
            ("ended", True),
            ("empty", False),
            ("open", False),
            ("other", False),
        ]
        assert _rows("SELECT slug, closed FROM disaster ORDER BY id", closed=Boolean()) == [
            ("old-rain", True),
            ("open-rain", False),
        ]
        db.session.commit()
        upgrade()
        db.session.commit()
        db.engine.dispose()


def test_0014_turns_the_tally_dimension_letters_into_small_integers(scratch_url: str) -> None:
    """Revision 0014: each tally row's dimension letters become its Dim code (S is 3, SD is 7), the rows and
    their figures otherwise as they were; and back."""
    app = make_app(scratch_url)
    with app.app_context():
        upgrade(revision="0013_entry_request_link")
        db.session.execute(
            text("INSERT INTO disaster (id, slug, name, start_date) VALUES (1, 'rain', '大雨', '2023-07-14')")
        )
        for dim, key1, key2 in (("A", 0, 0), ("S", 5, 0), ("SD", 5, 9), ("DU", 9, 2)):
            db.session.execute(
                text(
                    "INSERT INTO tally (disaster_id, dim, key1, key2, date, headcount, person_days)"
                    " VALUES (1, :dim, :k1, :k2, :day, 3, 7)"
                ),
                {"dim": dim, "k1": key1, "k2": key2, "day": date(2023, 7, 20)},
            )
        db.session.commit()

        upgrade(revision="0014_tally_dim_smallint")
        rows = "SELECT dim, key1, key2, date, headcount, person_days FROM tally ORDER BY dim"
        july_20 = date(2023, 7, 20)
        assert _rows(rows, date=Date()) == [
            (1, 0, 0, july_20, 3, 7),
            (3, 5, 0, july_20, 3, 7),
            (6, 9, 2, july_20, 3, 7),
            (7, 5, 9, july_20, 3, 7),
        ]
        db.session.commit()

        downgrade(revision="0013_entry_request_link")
        assert _rows("SELECT dim FROM tally ORDER BY dim") == [("A",), ("DU",), ("S",), ("SD",)]
        db.session.commit()
        upgrade()
        db.session.commit()
        db.engine.dispose()

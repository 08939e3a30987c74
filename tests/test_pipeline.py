"""The request pipeline (views.py, web.py) and the one write lock (write_lock.py), tested directly.

A page that writes is declared with @writes and writes through web.write: the lock only then, one commit,
a rollback on a refusal. GETs, logins (while the password is checked), previews and the test mail never
take the lock, and a page that writes without declaring it fails.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path

import pytest
from flask import Blueprint, Flask, request
from flask.testing import FlaskClient
from sqlalchemy import event, func, select

from dispatch import web, write_lock
from dispatch.closing import close_day
from dispatch.errors import Refusal
from dispatch.extensions import db
from dispatch.models import AuditRecord, Disaster, Entry, Role
from dispatch.web import UndeclaredWrite, write, writes
from tests import factories
from tests.conftest import PASSWORD, make_app, make_user

SLUG = "akita-2023-rain"
BASE = f"/disasters/{SLUG}"
ENTRY = {
    "date": "2023-11-01",
    "operation": "relief-act",
    "sender": "052035",
    "destination": "053619",
    "duty": "relief_act",
    "headcount": "3",
}


@pytest.fixture
def locks(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The endpoint of every request that took the write lock, in order."""
    taken: list[str] = []
    real = write_lock.begin_write

    def recording() -> None:
        taken.append(request.endpoint or "")
        real()

    monkeypatch.setattr(web, "begin_write", recording)
    return taken


def count(app: Flask, model: type) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(model)) or 0


def test_a_get_never_takes_the_lock(client: FlaskClient, demo: None, locks: list[str]) -> None:
    for path in (f"{BASE}/", f"{BASE}/entries", f"{BASE}/totals", f"{BASE}/entries/new", f"{BASE}/closing"):
        assert client.get(path).status_code in (200, 403)
    assert locks == []


def test_a_valid_entry_takes_the_lock_once_and_commits(
    app: Flask, client: FlaskClient, demo: None, locks: list[str]
) -> None:
    before = count(app, Entry)
    response = client.post(f"{BASE}/entries/new", data=ENTRY | {"date": "2023-11-01"})
    assert response.status_code == 302
    assert locks == ["entries.new_entry"]
    assert count(app, Entry) == before + 1


def test_an_invalid_form_never_takes_the_lock(client: FlaskClient, demo: None, locks: list[str]) -> None:
    response = client.post(f"{BASE}/entries/new", data=ENTRY | {"headcount": "0"})
    assert response.status_code == 422
    assert locks == []


def test_a_refused_write_leaves_nothing(
    app: Flask, client: FlaskClient, demo: None, locks: list[str]
) -> None:
    client.post(f"{BASE}/entries/new", data=ENTRY | {"date": "2023-11-01"})
    entries, records = count(app, Entry), count(app, AuditRecord)
    again = client.post(f"{BASE}/entries/new", data=ENTRY | {"date": "2023-11-01"})
    assert again.status_code == 409
    assert "登録済みの派遣と重複します" in again.text
    assert (count(app, Entry), count(app, AuditRecord)) == (entries, records)
    assert locks == ["entries.new_entry", "entries.new_entry"]


def test_a_login_checks_the_password_without_the_lock(
    app: Flask, anonymous: FlaskClient, monkeypatch: pytest.MonkeyPatch, locks: list[str]
) -> None:
    import dispatch.pages.auth as auth_page

    make_user(app, Role.HQ, "sato")
    held_while_hashing: list[bool] = []
    real = auth_page.password_matches

    def checking(*args: object) -> bool:
        held_while_hashing.append(write_lock.holds_write_lock())
        return real(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(auth_page, "password_matches", checking)
    assert anonymous.post("/login", data={"username": "sato", "password": "wrong"}).status_code == 401
    assert anonymous.post("/login", data={"username": "sato", "password": PASSWORD}).status_code == 302
    assert held_while_hashing == [False, False]
    # Only the outcome is written, under the lock, after the hash.
    assert locks == ["auth.login", "auth.login"]


def test_logout_and_the_test_mail_never_take_the_lock(
    client_as: Callable[..., FlaskClient], locks: list[str]
) -> None:
    admin = client_as(Role.ADMIN)
    admin.post("/admin/deliveries/test-mail", data={"to": "not-an-address"})
    admin.post("/logout")
    assert locks == []


@pytest.fixture
def rogue_app(database_url: str) -> Iterator[Flask]:
    """An app with pages that break the rules, registered before its first request."""
    app = make_app(database_url)
    rogue = Blueprint("rogue", __name__)

    @rogue.post("/rogue/undeclared")
    def undeclared() -> str:
        db.session.add(Disaster(slug="rogue", name="rogue", start_date=date(2024, 1, 1)))
        db.session.flush()
        return "wrote"

    @rogue.post("/rogue/write-undeclared")
    def write_undeclared() -> str:
        write(lambda: None)
        return "wrote"

    @rogue.post("/rogue/refused")
    @writes
    def refused() -> str:
        def refuse() -> None:
            db.session.add(Disaster(slug="refused", name="refused", start_date=date(2024, 1, 1)))
            db.session.flush()
            raise Refusal("受け付けません。")

        write(refuse)
        return "unreachable"

    app.register_blueprint(rogue)
    # The deny-by-default table would refuse these pages: let admins reach them.
    from dispatch import access

    for endpoint in ("rogue.undeclared", "rogue.write_undeclared", "rogue.refused"):
        access.PERMISSIONS[endpoint] = access.ADMINS
    yield app
    for endpoint in ("rogue.undeclared", "rogue.write_undeclared", "rogue.refused"):
        del access.PERMISSIONS[endpoint]
    with app.app_context():
        db.engine.dispose()


def admin_client(app: Flask) -> FlaskClient:
    from flask_login import FlaskLoginClient

    app.test_client_class = FlaskLoginClient
    return app.test_client(user=make_user(app, Role.ADMIN))


def test_a_page_that_writes_without_declaring_it_fails(rogue_app: Flask) -> None:
    client = admin_client(rogue_app)
    with pytest.raises(UndeclaredWrite):
        client.post("/rogue/undeclared")
    with pytest.raises(UndeclaredWrite):
        client.post("/rogue/write-undeclared")
    assert count(rogue_app, Disaster) == 0


def test_an_uncaught_refusal_is_shown_with_its_status_and_nothing_written(rogue_app: Flask) -> None:
    response = admin_client(rogue_app).post("/rogue/refused")
    assert response.status_code == 422
    assert "受け付けません。" in response.text
    assert count(rogue_app, Disaster) == 0


@pytest.mark.sqlite_only
def test_sqlite_writers_begin_immediate_and_queue_beside_the_file(app: Flask) -> None:
    statements: list[str] = []
    with app.app_context():
        event.listen(db.engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
        with write_lock.writing():
            assert write_lock.holds_write_lock()
            database = db.engine.url.database
            assert database is not None
            assert Path(f"{database}.write-queue").exists()
        assert "BEGIN IMMEDIATE" in statements
        assert not write_lock.holds_write_lock()


@pytest.mark.postgresql_only
def test_a_postgresql_writer_keeps_the_transaction_that_read_its_form(
    app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No COMMIT, BEGIN and pool ping between a page's reads and its write: the same transaction, its lock
    waits bounded from the lock on, and nothing of it left once it ends. Under a stricter isolation level
    than READ COMMITTED the reads' transaction is ended first, as the snapshot would be the form's."""
    with app.app_context():
        read = db.session.scalar(select(func.txid_current()))
        write_lock.begin_write()
        assert write_lock.holds_write_lock()
        assert db.session.scalar(select(func.txid_current())) == read
        assert db.session.scalar(select(func.current_setting("lock_timeout"))) == "10s"
        db.session.commit()
        assert not write_lock.holds_write_lock()
        assert db.session.scalar(select(func.current_setting("lock_timeout"))) == "0"

        monkeypatch.setattr(db.engine.dialect, "default_isolation_level", "REPEATABLE READ")
        read = db.session.scalar(select(func.txid_current()))
        write_lock.begin_write()
        assert write_lock.holds_write_lock()
        assert db.session.scalar(select(func.txid_current())) != read
        db.session.rollback()


# Statements one entry form POST runs, BEGINs included: the form's reads (user, the disaster with its
# operations, duties, the two organisations in one), then under the lock the key check, closed days, the entry, its audit
# record and the tally: on SQLite with its own BEGIN IMMEDIATE, every dimension read in one statement, a
# statement for the shifted stretches and one for the new rows; on PostgreSQL, in the transaction that read
# the form (write_lock.begin_write), the bound on lock waits, the disaster's turn and one statement that
# reads and writes (tally_writes.add_to_days). The numbers may only go down.
ENTRY_POST_STATEMENTS = {"sqlite": 13, "postgresql": 11}


def test_an_entry_post_runs_a_counted_number_of_statements(
    app: Flask, client: FlaskClient, demo: None
) -> None:
    statements: list[str] = []
    with app.app_context():
        event.listen(db.engine, "before_cursor_execute", lambda *args: statements.append(args[2]))
        most = ENTRY_POST_STATEMENTS[db.engine.dialect.name]
    client.get(f"{BASE}/entries/new")
    for day in ("2023-11-01", "2023-11-02"):
        statements.clear()
        response = client.post(f"{BASE}/entries/new", data=ENTRY | {"date": day})
        assert response.status_code == 302
        assert len(statements) <= most, "\n".join(statements)


def test_the_entry_form_page_reads_the_closed_days_once(app: Flask, client: FlaskClient, demo: None) -> None:
    """The page the POST redirects to needs every closed date (for its script) and whether the form's date
    is one of them (for its notice): one statement answers both."""
    statements: list[str] = []
    with app.app_context():
        disaster = db.session.scalars(select(Disaster).where(Disaster.slug == SLUG)).one()
        close_day(disaster, date(2023, 10, 31), factories.reviewer())
        db.session.commit()
        event.listen(db.engine, "before_cursor_execute", lambda *args: statements.append(args[2]))
    for day, notice in (
        ("2023-10-31", 'data-testid="closed-notice">'),
        ("2023-11-01", 'closed-notice" hidden>'),
    ):
        statements.clear()
        response = client.get(f"{BASE}/entries/new?date={day}")
        assert response.status_code == 200
        assert notice in response.get_data(as_text=True)
        assert sum("FROM closed_day" in sql for sql in statements) == 1, "\n".join(statements)

"""Fixtures: a real database per test (a SQLite file, or PostgreSQL when TEST_DATABASE_URL is set).

The schema is built once per run through the real migrations, with master data loaded. Each SQLite test
gets its own copy of that file; on PostgreSQL the tables other than master data are emptied after each
test.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from flask_migrate import upgrade
from sqlalchemy import event, text

from dispatch import create_app
from dispatch.extensions import db
from dispatch.masterdata import load_master_data
from dispatch.models import Disaster, Role
from dispatch.seeding import seed_founding_case, seed_sending_case
from tests.factories import (
    OGA,
    PASSWORD,  # noqa: F401 - tests/test_pipeline.py still imports it from here
    logged_in,
    make_user,
)

POSTGRES_URL = os.environ.get("TEST_DATABASE_URL", "")
# Tables holding what a test writes; master data (organisation, duty) is loaded once and kept.
TEST_TABLES = (
    "export_job",
    "counterpart_assignment",
    "assignment",
    "request_revision",
    "staff_request",
    "delivery",
    "recipient",
    "job_run",
    "audit_record",
    "closed_day",
    "login_throttle",
    "user_account",
    "stint",
    "team",
    "person",
    "entry",
    "operation",
    "disaster",
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests about one database alone do not apply on the other: deselect them, so nothing shows as
    skipped (on PostgreSQL the sqlite_only ones, on SQLite the postgresql_only ones)."""
    other = "sqlite_only" if POSTGRES_URL else "postgresql_only"
    deselected = [item for item in items if item.get_closest_marker(other)]
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        items[:] = [item for item in items if not item.get_closest_marker(other)]


def make_app(url: str, **overrides: Any) -> Flask:
    config = {
        "TESTING": True,
        "ENV_NAME": "test",
        "SECRET_KEY": "test-secret",
        "SQLALCHEMY_DATABASE_URI": url,
        "WTF_CSRF_ENABLED": False,
    }
    config.update(overrides)
    return create_app(config)


def _migrate(url: str) -> None:
    app = make_app(url)
    with app.app_context():
        upgrade()
        load_master_data()
        db.session.commit()
        db.engine.dispose()


@contextmanager
def statements_sent() -> Iterator[list[str]]:
    """The SQL the app's engine sends while the block runs (inside an app context), in order."""
    sent: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_rest: Any) -> None:
        sent.append(statement)

    event.listen(db.engine, "before_cursor_execute", record)
    try:
        yield sent
    finally:
        event.remove(db.engine, "before_cursor_execute", record)


@pytest.fixture(scope="session")
def database_template(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A URL for PostgreSQL, or the path of a migrated SQLite file to copy."""
    if POSTGRES_URL:
        app = make_app(POSTGRES_URL)
        with app.app_context():
            db.session.execute(text("DROP SCHEMA public CASCADE"))
            db.session.execute(text("CREATE SCHEMA public"))
            db.session.commit()
            db.engine.dispose()
        _migrate(POSTGRES_URL)
        return POSTGRES_URL
    path = tmp_path_factory.mktemp("template") / "template.sqlite"
    _migrate(f"sqlite:///{path}")
    return str(path)


@pytest.fixture
def database_url(database_template: str, tmp_path: Path) -> Iterator[str]:
    if POSTGRES_URL:
        yield POSTGRES_URL
        app = make_app(POSTGRES_URL)
        with app.app_context():
            db.session.execute(text(f"TRUNCATE {', '.join(TEST_TABLES)} RESTART IDENTITY CASCADE"))
            # Master data stays, but not what a test did to it: other bodies it added, bodies it deactivated.
            db.session.execute(text("DELETE FROM organisation WHERE kind = 'other'"))
            db.session.execute(text("UPDATE organisation SET active = TRUE WHERE NOT active"))
            db.session.commit()
            db.engine.dispose()
        return
    path = tmp_path / "dispatch.sqlite"
    shutil.copyfile(database_template, path)
    os.chmod(path, 0o600)  # as the app creates it (private_files.py)
    yield f"sqlite:///{path}"


@pytest.fixture
def app(database_url: str, tmp_path: Path) -> Iterator[Flask]:
    # Files a test's app writes (background imports' progress) stay in the test's folder.
    app = make_app(database_url, IMPORT_JOB_FOLDER=str(tmp_path / "imports"))
    yield app
    with app.app_context():
        db.engine.dispose()


@pytest.fixture
def app_with(database_url: str) -> Iterator[Callable[..., Flask]]:
    """More apps on the test's database, each with its own engine and settings (CSRF on, a bad setting, or
    none changed: a second web worker); their connections are closed after the test."""
    made: list[Flask] = []

    def make(**overrides: Any) -> Flask:
        made.append(make_app(database_url, **overrides))
        return made[-1]

    yield make
    for other in made:
        with other.app_context():
            db.engine.dispose()


@pytest.fixture
def csrf_app(app_with: Callable[..., Flask]) -> Flask:
    """An app that checks CSRF tokens, as production does (the other tests' apps do not)."""
    return app_with(WTF_CSRF_ENABLED=True)


@pytest.fixture
def ctx(app: Flask) -> Iterator[None]:
    """An application context, for tests that call services and totals directly."""
    with app.app_context():
        yield
        db.session.rollback()


@pytest.fixture
def client_as(app: Flask) -> Callable[..., FlaskClient]:
    """A test client already logged in as a new user of the role (the login page has tests of its own)."""

    def login(role: Role, username: str | None = None, org_code: str | None = None) -> FlaskClient:
        return logged_in(app, make_user(app, role, username, org_code))

    return login


@pytest.fixture
def client(client_as: Callable[..., FlaskClient]) -> FlaskClient:
    """Logged in as disaster HQ staff, who enter and edit dispatches."""
    return client_as(Role.HQ)


@pytest.fixture
def anonymous(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def runner(app: Flask) -> FlaskCliRunner:
    return app.test_cli_runner()


@pytest.fixture
def oga(client_as: Callable[..., FlaskClient], demo: None) -> FlaskClient:
    """A municipality user at 男鹿市, which only ever received water-supply crews in the founding case."""
    return client_as(Role.MUNICIPALITY, "oga", OGA)


@pytest.fixture
def demo(app: Flask) -> None:
    """The founding case (dispatch/demo.py): 549 entries, 延べ2,319人, 2023-07-16 to 2023-10-31."""
    with app.app_context():
        seed_founding_case()
        db.session.commit()


@pytest.fixture
def sending_demo(app: Flask) -> None:
    """The invented disaster seen from a sending prefecture (dispatch/demo_sending.py), noto-2024-drill:
    秋田県, 三重県, some of their municipalities and 総務省 to 輪島市 and 珠洲市, 延べ485人 to 2024-04-30."""
    with app.app_context():
        seed_sending_case()
        db.session.commit()


@pytest.fixture
def demo_disaster(ctx: None) -> Disaster:
    """The founding case seeded inside the test's application context (not committed), for tests that
    call totals and reports directly."""
    return seed_founding_case().disaster


# --- mail: a real SMTP server on 127.0.0.1, and nothing else ---------------------------------------------

MAIL_FROM = "dispatch@example.lg.jp"
LOCAL_SMTP_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


@pytest.fixture(autouse=True)
def _smtp_only_to_localhost(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail any test that opens an SMTP connection (plain or SSL) to a host other than this machine."""
    import smtplib

    real_connect = smtplib.SMTP.connect

    def connect(
        self: smtplib.SMTP, host: str = "localhost", port: int = 0, source_address: Any = None
    ) -> Any:
        name = host.rsplit(":", 1)[0] if not port and host.count(":") == 1 else host
        if name not in LOCAL_SMTP_HOSTS:
            pytest.fail(f"a test tried to send mail through {host}:{port}; tests may only use 127.0.0.1")
        return real_connect(self, host, port, source_address)

    monkeypatch.setattr(smtplib.SMTP, "connect", connect)


@pytest.fixture
def smtp_server() -> Iterator[Any]:
    """aiosmtpd on 127.0.0.1 and a free port (tests/smtp.py), collecting every message it accepts."""
    from tests.smtp import SMTPServer

    server = SMTPServer()
    server.start()
    yield server
    server.stop()


def mail_settings(port: int, **overrides: Any) -> dict[str, Any]:
    """Settings that send mail to the test SMTP server on 127.0.0.1."""
    settings: dict[str, Any] = {
        "MAIL_SERVER": "127.0.0.1",
        "MAIL_PORT": port,
        "MAIL_FROM": MAIL_FROM,
        "MAIL_TIMEOUT": 5,
        "BASE_URL": "https://dispatch.example.lg.jp",
    }
    settings.update(overrides)
    return settings


@pytest.fixture
def mail_app_with(app_with: Callable[..., Flask], smtp_server: Any) -> Callable[..., Flask]:
    """More apps whose mail goes to the test SMTP server: a second worker, or one with a setting changed."""
    return lambda **overrides: app_with(**mail_settings(smtp_server.port, **overrides))


@pytest.fixture
def mail_app(mail_app_with: Callable[..., Flask]) -> Flask:
    return mail_app_with()

"""Issue 12, the probes about sessions, passwords, login throttling and private files, grouped by cause.

Each test names the probes of ../shared/probes/failed-2026-11-30.md it keeps fixed. Nothing waits: the
throttle's clock is the login page's own `utcnow`, replaced by one the test moves on, so a burst of guesses
"a minute later" is a minute later to the app. Parallel guesses are real threads on the real database.
"""

from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from sqlalchemy import func, select, text
from werkzeug.test import TestResponse

import dispatch.pages.auth as auth_page
from dispatch import create_app
from dispatch.extensions import db
from dispatch.models import Entry, LoginThrottle, Role, User
from dispatch.security import (
    BLANK,
    COMMON,
    REPEATED,
    TOO_SHORT,
    USERNAME,
    generate_password,
    password_problem,
)
from tests.conftest import make_app
from tests.factories import BASE, PASSWORD, logged_in, make_user
from tests.reading import field_errors, flashes

ROOT = Path(__file__).resolve().parent.parent
BAD_CREDENTIALS = "ユーザー名またはパスワードが違います。"
LOCKED = "ログインの失敗が続いたため、一時的にロックしています。"
WRONG = "not the password"


def login(client: FlaskClient, username: str, password: str, **data: str) -> TestResponse:
    return client.post("/login", data={"username": username, "password": password, **data})


def login_error(response: TestResponse) -> str:
    [message] = flashes(response.text, "error")
    return message


def csrf_token(page: TestResponse) -> str:
    [token] = re.findall(r'name="csrf_token" (?:type="hidden" )?value="([^"]+)"', page.text)[:1]
    return token


class Clock:
    """The login page's clock, moved on by the test."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, by: timedelta) -> None:
        self.now += by


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    """Today at noon (UTC): the throttle counts by the page's clock, not by dates of entries."""
    moment = Clock(datetime.now(UTC).replace(hour=12, minute=0, second=0, microsecond=0))
    monkeypatch.setattr(auth_page, "utcnow", moment)
    return moment


def count_checks(monkeypatch: pytest.MonkeyPatch, check: Callable[[User | None, str], bool]) -> list[str]:
    made: list[str] = []

    def counting(user: User | None, password: str) -> bool:
        made.append(password)  # list.append: safe from parallel threads
        return check(user, password)

    monkeypatch.setattr(auth_page, "password_matches", counting)
    return made


@pytest.fixture
def checks(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every password the pages checked against its scrypt hash, in order."""
    return count_checks(monkeypatch, auth_page.password_matches)


@pytest.fixture
def quick_checks(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every password the pages checked, in order; compared as text, since what is counted here does not
    depend on the hash, and dozens of scrypt hashes would take seconds (every user's password is PASSWORD)."""
    return count_checks(monkeypatch, lambda user, password: user is not None and password == PASSWORD)


def address_failures(app: Flask, address: str = "127.0.0.1") -> int:
    with app.app_context():
        by_minute = db.session.scalar(
            select(LoginThrottle.failures_by_minute).where(LoginThrottle.key == f"addr:{address}")
        )
        return sum((by_minute or {}).values())


def stored_hash(app: Flask, user: User) -> str:
    with app.app_context():
        return db.session.scalars(select(User.password_hash).where(User.id == user.id)).one()


def throttle_keys_stored(app: Flask) -> set[str]:
    with app.app_context():
        return set(db.session.scalars(select(LoginThrottle.key)))


# --- logout ends the session, everywhere; a new session at login (probes 147, 150, 151, 152) ------------


def copied_session(client: FlaskClient, into: FlaskClient) -> None:
    cookie = client.get_cookie("session")
    assert cookie is not None
    into.set_cookie("session", cookie.value)


def test_a_cookie_copied_before_logout_reads_nothing_after_it(app: Flask) -> None:
    """Probes 150 and 152: the copy, in this browser or another one (another User-Agent), is logged out too,
    and no page of the logged-in user was stored for Back to show."""
    make_user(app, Role.HQ, "sato")
    browser, thief = app.test_client(), app.test_client()
    assert login(browser, "sato", PASSWORD).status_code == 302
    copied_session(browser, thief)
    page = thief.get("/", headers={"User-Agent": "another browser"})
    assert page.status_code == 200
    assert page.headers["Cache-Control"] == "no-store"

    assert browser.post("/logout").headers["Location"] == "/login"
    for headers in ({}, {"User-Agent": "another browser"}):
        stale = thief.get("/", headers=headers)
        assert stale.status_code == 302
        assert stale.headers["Location"] == "/login?next=/"
    # Logging in again opens a new session; the old copy stays dead.
    assert login(browser, "sato", PASSWORD).status_code == 302
    assert browser.get("/").status_code == 200
    assert thief.get("/").status_code == 302


def test_a_cookie_copied_before_logout_writes_nothing_after_it(app: Flask, demo: None) -> None:
    """Probe 151: an entry posted with the copy after the logout is refused and nothing is written."""
    make_user(app, Role.HQ, "sato")
    browser, thief = app.test_client(), app.test_client()
    login(browser, "sato", PASSWORD)
    copied_session(browser, thief)
    browser.post("/logout")
    with app.app_context():
        before = db.session.scalar(select(func.count()).select_from(Entry))

    entry = {
        "date": "2023-11-01",
        "operation": "relief-act",
        "sender": "052035",
        "destination": "053619",
        "duty": "relief_act",
        "headcount": "3",
    }
    refused = thief.post(f"{BASE}/entries/new", data=entry, headers={"User-Agent": "another browser"})
    assert refused.status_code == 302
    assert refused.headers["Location"].startswith("/login")
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Entry)) == before


def test_a_csrf_token_from_before_login_is_refused_after_it(csrf_app: Flask) -> None:
    """Probe 147: a token minted before login (one an attacker could have planted with the cookie) does not
    pass once the user has logged in; the token of the new session does."""
    make_user(csrf_app, Role.HQ, "sato")
    client = csrf_app.test_client()
    planted = csrf_token(client.get("/login"))
    assert login(client, "sato", PASSWORD, csrf_token=planted).status_code == 302

    refused = client.post("/logout", data={"csrf_token": planted})
    assert refused.status_code == 400
    assert client.get("/").status_code == 200  # still logged in: the forged logout did nothing

    fresh = csrf_token(client.get("/"))
    assert fresh != planted
    assert client.post("/logout", data={"csrf_token": fresh}).headers["Location"] == "/login"


# --- passwords (probes 546-550) -------------------------------------------------------------------------

GUESSABLE = "推測されやすいため使えません。"


def change(client: FlaskClient, new: str) -> TestResponse:
    return client.post("/account/password", data={"current": PASSWORD, "new": new, "confirm": new})


@pytest.mark.parametrize(
    ("probe", "new"),
    [(546, "aaaaaaaaaa"), (547, " " * 10), (548, "1234567890"), (549, "password12"), (550, "weak3weak3")],
)
def test_the_probed_weak_passwords_are_refused(app: Flask, probe: int, new: str) -> None:
    """Probes 546-550: each of the ten-character passwords the probe set is refused, with the reason in
    Japanese, and the password stays as it was."""
    user = make_user(app, Role.HQ, "weak3")
    response = change(logged_in(app, user), new)
    assert response.status_code == 200
    assert field_errors(response.text)["new"] == [TOO_SHORT]
    assert TOO_SHORT == "パスワードは12文字以上にしてください。"
    assert stored_hash(app, user) == user.password_hash


@pytest.mark.parametrize(
    ("new", "reason"),
    [
        ("aaaaaaaaaaaa", REPEATED),  # 546, at twelve characters
        (" " * 12, BLANK),  # 547
        ("\u3000" * 12, BLANK),  # 547, ideographic spaces
        ("1234567890123", GUESSABLE),  # 548
        ("password1234", COMMON),  # 549: on the list of common passwords
        ("qwerty123456", COMMON),
        ("weak3weak3weak3", USERNAME),  # 550: the user name three times
        ("abcdabcdabcd", REPEATED),
        ("WEAK3WEAK3WEAK3", USERNAME),
        ("3kaew3kaew3kaew", USERNAME),  # backwards
        ("weak3 weak3 weak3", USERNAME),
        ("Password1234!", GUESSABLE),
        ("abcdefghijklm", GUESSABLE),
    ],
)
def test_twelve_characters_are_not_enough_for_a_guessable_password(app: Flask, new: str, reason: str) -> None:
    """Probes 546-550 at the new minimum length: refused for what they are, said in Japanese."""
    user = make_user(app, Role.HQ, "weak3")
    [message] = field_errors(change(logged_in(app, user), new).text)["new"]
    assert reason in message


def test_a_good_password_is_taken_and_generated_ones_always_are(app: Flask) -> None:
    """Probes 546-550: the rules refuse guessable passwords, not long ones in any script."""
    user = make_user(app, Role.HQ, "sato")
    client = logged_in(app, user)
    response = change(client, "秋田の夏祭りは竿燈まつりです")
    assert response.status_code == 302
    assert password_problem(PASSWORD, "sato") is None
    for _ in range(50):
        assert password_problem(generate_password(), "sato") is None


def test_create_user_refuses_a_common_password_from_stdin(app: Flask, runner: FlaskCliRunner) -> None:
    """Probe 549 by the command line: the same rules, the same Japanese reason, and no user."""
    result = runner.invoke(
        args=["create-user", "ito", "--role", "hq", "--password-stdin"], input="password1234\n"
    )
    assert result.exit_code == 1
    assert COMMON in result.output
    with app.app_context():
        assert db.session.scalar(select(User).where(User.username == "ito")) is None


# --- throttling (probes 184, 185, 187, 551, 925, 942) ---------------------------------------------------


def test_other_accounts_typos_never_slow_a_correct_password(
    app: Flask, clock: Clock, quick_checks: list[str]
) -> None:
    """Probe 184: four mistyped names from one office address, then a colleague's right password logs in
    at once; an address is never made to wait, however many typos it sent."""
    make_user(app, Role.REVIEWER, "srev")
    client = app.test_client()
    for name in ("srve", "sre", "s-rev", "srev2"):
        assert login_error(login(client, name, WRONG)) == BAD_CREDENTIALS
    assert login(client, "srev", PASSWORD).status_code == 302

    other = app.test_client()
    for number in range(20):
        assert login_error(login(other, f"typo{number}", WRONG)) == BAD_CREDENTIALS
    assert login(other, "srev", PASSWORD).status_code == 302


def test_failures_of_an_address_expire(app: Flask, clock: Clock, quick_checks: list[str]) -> None:
    """Probe 185: 49 failures from the address a week ago and one typo now do not lock the address: only
    failures within the window (15 minutes) count, and the old rows are forgotten."""
    make_user(app, Role.REVIEWER, "srev")
    client = app.test_client()
    clock.advance(-timedelta(days=7))
    for number in range(49):
        login(client, f"someone{number}", WRONG)
        clock.advance(timedelta(seconds=31))  # past any wait, as a patient attacker would
    clock.advance(timedelta(days=7))

    assert login_error(login(client, "someone", WRONG)) == BAD_CREDENTIALS
    assert login(client, "srev", PASSWORD).status_code == 302
    assert address_failures(app) == 1
    assert throttle_keys_stored(app) == {"addr:127.0.0.1", "user:someone"}


def test_a_successful_login_adds_nothing_and_the_address_count_decays(
    app: Flask, clock: Clock, quick_checks: list[str]
) -> None:
    """Probe 925: logging in does not add to the address's count, and the count falls back to nothing once
    its failures leave the window."""
    make_user(app, Role.HQ, "sato")
    client = app.test_client()
    for _ in range(3):
        login(client, "nosuchuser-typo", WRONG)
    assert login(client, "sato", PASSWORD).status_code == 302
    assert address_failures(app) == 3

    # Counted by the minute: failures at 12:00:00 count until 12:16.
    clock.advance(timedelta(minutes=16))
    assert login_error(login(app.test_client(), "another-typo", WRONG)) == BAD_CREDENTIALS
    assert address_failures(app) == 1
    assert "user:nosuchuser-typo" not in throttle_keys_stored(app)


def guess_in_parallel(apps: list[Flask], guesses: int, password: str = WRONG) -> list[int]:
    """That many logins of one account at once, spread over the apps (the workers); their statuses."""
    barrier = threading.Barrier(guesses)
    statuses: list[int] = []
    failures: list[BaseException] = []

    def guess(app: Flask) -> None:
        client = app.test_client()
        try:
            barrier.wait(timeout=30)
            statuses.append(login(client, "sato", password).status_code)
        except BaseException as exc:  # reported below, not lost in the thread
            failures.append(exc)

    threads = [threading.Thread(target=guess, args=(apps[n % len(apps)],)) for n in range(guesses)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert failures == []
    assert len(statuses) == guesses
    return statuses


# A connection for each of the 20 threads an app runs at once: with the default pool (5 + 10) a thread
# waits for a connection instead of for the throttle, and a slow machine times it out.
ROOM_FOR_EVERY_THREAD = {
    "SQLALCHEMY_ENGINE_OPTIONS": {"pool_pre_ping": True, "pool_size": 20, "max_overflow": 10}
}


def test_forty_parallel_guesses_make_at_most_the_limit_of_checks(
    app_with: Callable[..., Flask], clock: Clock, checks: list[str]
) -> None:
    """Probe 942: 40 guesses at once for one account get exactly the limit (10) of password checks; the rest
    are refused before any hash, then the right password too, since the account is locked."""
    apps = [app_with(LOGIN_SLOW_AFTER=100, **ROOM_FOR_EVERY_THREAD) for _ in range(2)]
    make_user(apps[0], Role.HQ, "sato")
    statuses = guess_in_parallel(apps, 40)
    assert statuses == [401] * 40
    assert len(checks) == 10

    refused = login(apps[1].test_client(), "sato", PASSWORD)
    assert login_error(refused).startswith(LOCKED)
    assert len(checks) == 10


def test_bursts_of_guesses_one_per_wait_make_at_most_the_limit_of_checks(
    app_with: Callable[..., Flask], clock: Clock, quick_checks: list[str]
) -> None:
    """Probe 187: bursts of 40 parallel guesses from two workers, one burst each time the wait has passed,
    get no more than the limit (10) of checks in all: 3 in the first burst, one in each of the next seven,
    then the account is locked."""
    apps = [app_with(**ROOM_FOR_EVERY_THREAD) for _ in range(2)]
    make_user(apps[0], Role.HQ, "sato")
    per_burst = []
    for _ in range(9):
        before = len(quick_checks)
        guess_in_parallel(apps, 40)
        per_burst.append(len(quick_checks) - before)
        clock.advance(timedelta(seconds=31))  # longer than the longest wait (30 s)
    assert per_burst == [3, 1, 1, 1, 1, 1, 1, 1, 0]


def test_guesses_at_the_current_password_are_throttled_like_logins(
    app_with: Callable[..., Flask], clock: Clock, quick_checks: list[str]
) -> None:
    """Probe 551: 25 wrong guesses at the current password on the change-password page, each after the wait,
    get 10 checks; then the account is locked, on this page and at the login."""
    app = app_with()
    user = make_user(app, Role.HQ, "sato")
    session = logged_in(app, user)
    errors = []
    for _ in range(25):
        response = session.post(
            "/account/password",
            data={"current": WRONG, "new": "a much longer new one", "confirm": "a much longer new one"},
        )
        [message] = field_errors(response.text)["current"]
        errors.append(message)
        clock.advance(timedelta(seconds=31))
    assert len(quick_checks) == 10
    assert errors[:10] == ["現在のパスワードが違います。"] * 10
    assert all(error.startswith(LOCKED) for error in errors[10:])
    assert login_error(login(app.test_client(), "sato", PASSWORD)).startswith(LOCKED)
    assert stored_hash(app, user) == user.password_hash


# --- files only the service account may read (probe 553) -----------------------------------------------


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def open_umask() -> Iterator[None]:
    """The usual umask (022), under which files are made readable by everyone unless asked otherwise."""
    previous = os.umask(0o022)
    yield
    os.umask(previous)


def test_the_sqlite_database_and_its_companions_are_for_the_owner_alone(
    tmp_path: Path, open_umask: None
) -> None:
    """Probe 553: the database, its -wal and its -shm are created 0600, and a database found readable by
    others is narrowed when next connected to."""
    path = tmp_path / "dispatch.sqlite"
    app = make_app(f"sqlite:///{path}")
    with app.app_context():
        db.session.execute(text("CREATE TABLE probe (x INTEGER)"))
        db.session.execute(text("INSERT INTO probe VALUES (1)"))
        db.session.commit()
        for suffix in ("", "-wal", "-shm"):
            assert mode(Path(f"{path}{suffix}")) == 0o600, suffix
        db.engine.dispose()

    path.chmod(0o644)
    with app.app_context():
        db.session.execute(text("SELECT 1"))
        db.engine.dispose()
    assert mode(path) == 0o600


def test_create_app_makes_the_instance_folder_for_the_owner_alone(
    tmp_path: Path, open_umask: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Probe 553: the instance folder, which holds the secret key and the database, is created 0700."""
    instance = tmp_path / "instance"
    monkeypatch.setattr(Flask, "auto_find_instance_path", lambda self: str(instance))
    make_app("sqlite://")
    assert mode(instance) == 0o700


def test_healthz_reports_a_secret_key_others_may_read(
    tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Probe 553: an installation whose instance/config.py (the secret key) or folder others may read is
    "degraded", and /healthz names the files and the modes they need; once narrowed it is "ok"."""
    instance = tmp_path / "instance"
    instance.mkdir(mode=0o755)
    instance.chmod(0o755)
    settings = instance / "config.py"
    settings.write_text(
        f'SECRET_KEY = "a key from the instance folder"\nENV_NAME = "test"\n'
        f'SQLALCHEMY_DATABASE_URI = "{database_url}"\n'
    )
    settings.chmod(0o644)
    monkeypatch.setattr(Flask, "auto_find_instance_path", lambda self: str(instance))
    app = create_app()
    assert app.config["SECRET_KEY"] == "a key from the instance folder"
    try:
        body = app.test_client().get("/healthz").get_json()
        assert body["status"] == "degraded"
        assert body["files_too_open"] == [
            {"file": "instance", "mode": "0755", "expected": "0700"},
            {"file": "config.py", "mode": "0644", "expected": "0600"},
        ]
        instance.chmod(0o700)
        settings.chmod(0o600)
        body = app.test_client().get("/healthz").get_json()
        assert (body["status"], body["files_too_open"]) == ("ok", [])
    finally:
        with app.app_context():
            db.engine.dispose()


def test_scripts_setup_writes_the_secret_key_for_the_owner_alone(tmp_path: Path, open_umask: None) -> None:
    """Probe 553: scripts/setup creates instance/ 0700 and instance/config.py 0600, and narrows a checkout's
    that others could read. It runs in a copy of the checkout whose python refuses to install anything."""
    (tmp_path / "scripts").mkdir()
    shutil.copy(ROOT / "scripts" / "setup", tmp_path / "scripts" / "setup")
    shutil.copy(ROOT / "requirements.txt", tmp_path / "requirements.txt")
    bin_dir = tmp_path / ".venv" / "bin"
    bin_dir.mkdir(parents=True)
    python = bin_dir / "python"
    python.write_text(
        '#!/bin/sh\n[ "$1" = "-m" ] && { echo "no installing in this test" >&2; exit 1; }\n'
        f'exec {ROOT / ".venv" / "bin" / "python"} "$@"\n'
    )
    python.chmod(0o755)
    # The stamp scripts/setup leaves after installing the pinned packages: nothing to install here.
    stamp = subprocess.run(
        "sha256sum requirements.txt requirements.txt | sha256sum | cut -c1-16",
        shell=True,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    (tmp_path / ".venv" / f".installed-{stamp}").touch()

    subprocess.run(["bash", "scripts/setup"], cwd=tmp_path, check=True, capture_output=True)
    instance = tmp_path / "instance"
    assert (mode(instance), mode(instance / "config.py")) == (0o700, 0o600)
    assert re.search(r'SECRET_KEY = "[0-9a-f]{64}"', (instance / "config.py").read_text())

    instance.chmod(0o755)
    (instance / "config.py").chmod(0o644)
    subprocess.run(["bash", "scripts/setup"], cwd=tmp_path, check=True, capture_output=True)
    assert (mode(instance), mode(instance / "config.py")) == (0o700, 0o600)

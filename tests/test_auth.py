"""Logging in through the real login page, throttling shared by every worker, the security headers,
changing and resetting passwords, and the create-user command.

Users come from `make_user` (tests/factories.py) with the password PASSWORD unless a test issues one itself.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from html import unescape
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from sqlalchemy import select, update
from werkzeug.test import TestResponse

from dispatch.extensions import db
from dispatch.models import AuditRecord, LoginThrottle, Role, User, utcnow
from dispatch.security import USERNAME, ThrottlePolicy, begin_check, throttle_keys
from tests.factories import PASSWORD, logged_in, make_user
from tests.reading import field_errors, flashes

WRONG = "not the password"
BAD_CREDENTIALS = "ユーザー名またはパスワードが違います。"
LOCKED = "ログインの失敗が続いたため、一時的にロックしています。"


def login(client: FlaskClient, username: str, password: str, next_: str | None = None) -> TestResponse:
    query = {"next": next_} if next_ is not None else {}
    return client.post("/login", query_string=query, data={"username": username, "password": password})


def error_on(response: TestResponse) -> str:
    """The one error message a page shows (the login page's refusal, or an admin page's)."""
    [message] = flashes(response.text, "error")
    return message


def field_error(response: TestResponse, field: str) -> str:
    [message] = field_errors(response.text)[field]
    return message


def shown_password(response: TestResponse) -> str:
    [password] = re.findall(r'<code data-testid="password">([^<]+)</code>', response.text)
    return unescape(password)


def user_named(app: Flask, username: str) -> User:
    with app.app_context():
        user = db.session.scalar(select(User).where(User.username == username))
        assert user is not None, username
        db.session.expunge(user)
        return user


def audit_of(app: Flask, user_id: int) -> list[AuditRecord]:
    with app.app_context():
        records = list(
            db.session.scalars(
                select(AuditRecord)
                .where(AuditRecord.object_type == "user", AuditRecord.object_id == user_id)
                .order_by(AuditRecord.id)
            )
        )
        for record in records:
            db.session.expunge(record)
        return records


def assert_no_secrets(app: Flask, records: list[AuditRecord], *passwords: str) -> None:
    """Neither the hash nor any password appears anywhere in the records."""
    password_hash = user_named(app, records[0].summary).password_hash
    for record in records:
        text = json.dumps([record.before, record.after, record.summary, record.reason], ensure_ascii=False)
        assert "password_hash" not in text
        assert password_hash not in text
        assert "scrypt" not in text
        for password in passwords:
            assert password not in text


# --- logging in ---------------------------------------------------------------------------------------


def test_login_with_the_right_password_goes_to_next(app: Flask, anonymous: FlaskClient) -> None:
    make_user(app, Role.HQ, "sato")
    page = anonymous.get("/disasters/akita-2023-rain/totals?as_of=2023-08-31")
    assert page.status_code == 302
    login_url = page.headers["Location"]
    assert login_url == "/login?next=/disasters/akita-2023-rain/totals?as_of%3D2023-08-31"

    response = anonymous.post(login_url, data={"username": "sato", "password": PASSWORD})
    assert response.status_code == 302
    assert response.headers["Location"] == "/disasters/akita-2023-rain/totals?as_of=2023-08-31"
    assert anonymous.get("/").status_code == 200


def test_login_ignores_the_case_of_the_username(app: Flask, anonymous: FlaskClient) -> None:
    make_user(app, Role.HQ, "sato")
    assert login(anonymous, "SATO", PASSWORD).headers["Location"] == "/"


@pytest.mark.parametrize(
    "next_",
    [
        "https://evil.example/",
        "//evil.example",
        "/\\evil.example",
        "\\\\evil.example",
        "/\t/evil.example",
        "javascript:alert(1)",
        "evil.example",
        "",
    ],
)
def test_next_cannot_leave_the_site(app: Flask, anonymous: FlaskClient, next_: str) -> None:
    make_user(app, Role.HQ, "sato")
    response = login(anonymous, "sato", PASSWORD, next_)
    assert response.status_code == 302
    assert response.headers["Location"] == "/"
    # Already logged in, the login page forwards at once: through the same check.
    again = anonymous.get("/login", query_string={"next": next_})
    assert again.headers["Location"] == "/"


def test_wrong_password_is_refused_in_japanese(app: Flask, anonymous: FlaskClient) -> None:
    make_user(app, Role.HQ, "sato")
    response = login(anonymous, "sato", WRONG)
    assert response.status_code == 401
    assert error_on(response) == BAD_CREDENTIALS
    assert anonymous.get("/").status_code == 302
    # An unknown user reads the same, so the page does not tell which usernames exist.
    unknown = login(anonymous, "nobody", WRONG)
    assert unknown.status_code == 401
    assert error_on(unknown) == BAD_CREDENTIALS


def test_an_inactive_user_cannot_log_in(app: Flask, anonymous: FlaskClient) -> None:
    user = make_user(app, Role.HQ, "sato")
    with app.app_context():
        stored = db.session.get(User, user.id)
        assert stored is not None
        stored.active = False
        db.session.commit()
    response = login(anonymous, "sato", PASSWORD)
    assert response.status_code == 401
    assert error_on(response) == BAD_CREDENTIALS
    assert anonymous.get("/").status_code == 302


def test_passwords_are_stored_as_scrypt_hashes(app: Flask) -> None:
    user = make_user(app, Role.HQ, "sato")
    assert user.password_hash.startswith("scrypt:")
    assert PASSWORD not in user.password_hash
    other = make_user(app, Role.HQ, "suzuki")
    # Salted: the same password hashes differently.
    assert other.password_hash != user.password_hash


def test_logout_ends_the_session(app: Flask, anonymous: FlaskClient) -> None:
    make_user(app, Role.HQ, "sato")
    login(anonymous, "sato", PASSWORD)
    response = anonymous.post("/logout")
    assert response.headers["Location"] == "/login"
    assert anonymous.get("/").status_code == 302


# --- throttling ---------------------------------------------------------------------------------------


LOCK_AFTER_3 = {"LOGIN_SLOW_AFTER": 100, "LOGIN_LOCK_AFTER": 3}


def test_the_account_locks_after_repeated_failures(app_with: Callable[..., Flask]) -> None:
    app = app_with(**LOCK_AFTER_3)
    make_user(app, Role.HQ, "sato")
    make_user(app, Role.HQ, "suzuki")
    client = app.test_client()
    for _ in range(3):
        failed = login(client, "sato", WRONG)
        assert failed.status_code == 401
        assert error_on(failed) == BAD_CREDENTIALS

    refused = login(client, "sato", PASSWORD)
    assert refused.status_code == 401
    assert error_on(refused).startswith(LOCKED)  # for how long: test_a_lock_runs_out_and_the_count_restarts
    assert client.get("/").status_code == 302
    # The account is locked, not the office's address: a colleague still logs in.
    assert login(client, "suzuki", PASSWORD).status_code == 302


def test_failures_and_the_lock_are_shared_by_every_worker(app_with: Callable[..., Flask]) -> None:
    first, second = app_with(**LOCK_AFTER_3), app_with(**LOCK_AFTER_3)
    with first.app_context():
        first_engine = db.engine
    with second.app_context():
        assert db.engine is not first_engine  # two engines, two connection pools, one database
    make_user(first, Role.HQ, "sato")
    a, b = first.test_client(), second.test_client()

    assert login(a, "sato", WRONG).status_code == 401
    assert login(b, "sato", WRONG).status_code == 401
    assert login(a, "sato", WRONG).status_code == 401  # the third failure, counted across both

    for client in (b, a):
        refused = login(client, "sato", PASSWORD)
        assert refused.status_code == 401
        assert error_on(refused).startswith(LOCKED)


# The throttle's arithmetic at chosen moments: no test waits, and none depends on how fast it runs.
T0 = datetime(2023, 8, 1, 0, 0, tzinfo=UTC)
KEYS = throttle_keys("sato", "192.0.2.1")


def wait_for(seconds: int) -> str:
    return f"ログインの失敗が続いています。{seconds}秒待ってからもう一度お試しください。"


def failures() -> dict[str, int]:
    """The failures counted within the window, by throttle key (read afresh: checks commit on their own)."""
    db.session.commit()
    rows = db.session.execute(select(LoginThrottle.key, LoginThrottle.failures_by_minute))
    return {key: sum(by_minute.values()) for key, by_minute in rows}


def minute(moment: datetime) -> str:
    return moment.replace(second=0, microsecond=0).isoformat()


def set_throttle(app: Flask, **values: Any) -> None:
    """Every throttle row given the same values (failures by minute, the time of the last failure)."""
    with app.app_context():
        db.session.execute(update(LoginThrottle).values(**values))
        db.session.commit()


def refusal_at(moment: datetime, policy: ThrottlePolicy) -> str | None:
    """A password check begun at the moment: why it is refused, or None when it is made (and counted as a
    failure, as every check is until its password is found right)."""
    return begin_check(KEYS, moment, policy).refusal


def test_after_a_failure_the_next_attempt_must_wait(ctx: None) -> None:
    policy = ThrottlePolicy(slow_after=1, lock_after=100)
    assert refusal_at(T0, policy) is None
    assert failures() == {"user:sato": 1, "addr:192.0.2.1": 1}
    # The first failure past slow_after costs a second, the next two, then four ...
    assert refusal_at(T0 + timedelta(milliseconds=500), policy) == wait_for(1)
    assert refusal_at(T0 + timedelta(seconds=1), policy) is None

    assert refusal_at(T0 + timedelta(seconds=1.5), policy) == wait_for(2)
    assert refusal_at(T0 + timedelta(seconds=3), policy) is None

    assert refusal_at(T0 + timedelta(seconds=3), policy) == wait_for(5)
    assert refusal_at(T0 + timedelta(seconds=7), policy) is None
    # A refused attempt is not counted: four checks were made.
    assert failures() == {"user:sato": 4, "addr:192.0.2.1": 4}


def test_a_lock_runs_out_and_the_count_restarts(ctx: None) -> None:
    policy = ThrottlePolicy(slow_after=100, lock_after=3, lock_for=timedelta(minutes=15))
    for second in range(3):
        assert refusal_at(T0 + timedelta(seconds=second), policy) is None
    locked_at = T0 + timedelta(seconds=2)

    def refusal_after(elapsed: timedelta) -> str | None:
        return refusal_at(locked_at + elapsed, policy)

    assert refusal_after(timedelta(seconds=1)) == (
        f"{LOCKED}約15分後にもう一度お試しください。急ぐ場合は管理者に連絡してください。"
    )
    assert refusal_after(timedelta(minutes=14, seconds=30)) == (
        f"{LOCKED}約1分後にもう一度お試しください。急ぐ場合は管理者に連絡してください。"
    )
    # The next check after the lock ran out counts as the first again, and does not lock.
    assert refusal_after(timedelta(minutes=15)) is None
    assert failures()["user:sato"] == 1
    assert refusal_after(timedelta(minutes=15, seconds=1)) is None


def test_the_login_page_counts_failures_and_makes_the_next_attempt_wait(
    app_with: Callable[..., Flask],
) -> None:
    app = app_with(LOGIN_SLOW_AFTER=1, LOGIN_LOCK_AFTER=100)
    make_user(app, Role.HQ, "sato")
    client = app.test_client()
    assert error_on(login(client, "sato", WRONG)) == BAD_CREDENTIALS
    with app.app_context():
        assert failures() == {"user:sato": 1, "addr:127.0.0.1": 1}

    # The page reads the clock itself, so the rows are dated for it: six failures, the last just now, mean
    # the longest wait (30 seconds, far longer than the next request takes); the last ten minutes ago, none,
    # though all six are still within the window (15 minutes).
    now = utcnow()
    set_throttle(app, failures_by_minute={minute(now): 6}, last_failure_at=now)
    refused = login(client, "sato", PASSWORD)
    assert refused.status_code == 401
    assert "秒待って" in error_on(refused)
    assert client.get("/").status_code == 302

    earlier = utcnow() - timedelta(minutes=10)
    set_throttle(app, failures_by_minute={minute(earlier): 6}, last_failure_at=earlier)
    assert login(client, "sato", PASSWORD).status_code == 302
    # Logging in clears the account's count, not the address's.
    with app.app_context():
        assert failures() == {"addr:127.0.0.1": 6}


# --- headers, cookies, CSRF ---------------------------------------------------------------------------


def assert_security_headers(response: TestResponse) -> None:
    policy = response.headers["Content-Security-Policy"]
    assert "default-src 'self'" in policy
    assert "frame-ancestors 'none'" in policy
    assert "http" not in policy
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_security_headers_on_every_kind_of_response(
    client: FlaskClient, anonymous: FlaskClient, demo: None
) -> None:
    for response in (
        client.get("/"),
        client.get("/disasters/akita-2023-rain/totals.json"),
        client.get("/audit"),  # a refusal (403) too
        anonymous.get("/login"),
        anonymous.get("/"),  # the redirect to the login page
    ):
        assert_security_headers(response)


def session_cookie(response: TestResponse) -> str:
    [cookie] = [c for c in response.headers.getlist("Set-Cookie") if c.startswith("session=")]
    return cookie


def test_session_cookie_is_httponly_and_samesite(app: Flask, anonymous: FlaskClient) -> None:
    make_user(app, Role.HQ, "sato")
    cookie = session_cookie(login(anonymous, "sato", PASSWORD))
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie
    assert "Secure" not in cookie


def test_session_cookie_is_secure_over_https(app: Flask) -> None:
    make_user(app, Role.HQ, "sato")
    client = app.test_client()
    response = client.post(
        "/login", data={"username": "sato", "password": PASSWORD}, base_url="https://localhost"
    )
    assert response.status_code == 302
    cookie = session_cookie(response)
    assert "Secure" in cookie
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie


def test_login_needs_the_csrf_token(csrf_app: Flask) -> None:
    app = csrf_app
    make_user(app, Role.HQ, "sato")
    client = app.test_client()
    refused = login(client, "sato", PASSWORD)
    assert refused.status_code == 400
    assert "<h1>送信を受け付けられませんでした</h1>" in refused.text
    assert client.get("/").status_code == 302

    [token] = re.findall(r'name="csrf_token" type="hidden" value="([^"]+)"', client.get("/login").text)
    response = client.post("/login", data={"username": "sato", "password": PASSWORD, "csrf_token": token})
    assert response.status_code == 302
    assert client.get("/").status_code == 200


# --- changing one's password --------------------------------------------------------------------------


@pytest.fixture
def sato(app: Flask) -> User:
    return make_user(app, Role.HQ, "sato")


NEW_PASSWORD = "a much longer new one"


def change(client: FlaskClient, current: str, new: str, confirm: str | None = None) -> TestResponse:
    return client.post(
        "/account/password",
        data={"current": current, "new": new, "confirm": new if confirm is None else confirm},
    )


def test_change_password_refuses_a_wrong_current_password(app: Flask, sato: User) -> None:
    response = change(logged_in(app, sato), WRONG, NEW_PASSWORD)
    assert response.status_code == 200
    assert field_error(response, "current") == "現在のパスワードが違います。"
    assert user_named(app, "sato").password_hash == sato.password_hash


@pytest.mark.parametrize(
    ("new", "confirm", "field", "message"),
    [
        ("short", None, "new", "パスワードは12文字以上にしてください。"),
        ("12345678901", None, "new", "パスワードは12文字以上にしてください。"),
        (NEW_PASSWORD, "something else", "confirm", "確認用のパスワードが一致しません。"),
    ],
)
def test_change_password_refuses_a_short_or_mistyped_one(
    app: Flask, sato: User, new: str, confirm: str | None, field: str, message: str
) -> None:
    response = change(logged_in(app, sato), PASSWORD, new, confirm)
    assert response.status_code == 200
    assert field_error(response, field) == message
    assert user_named(app, "sato").password_hash == sato.password_hash


def test_change_password_refuses_the_username(app: Flask) -> None:
    user = make_user(app, Role.HQ, "satosatosato")  # twelve letters or more, so only the name is wrong
    response = change(logged_in(app, user), PASSWORD, "SatoSatoSato")
    assert field_error(response, "new") == USERNAME
    assert user_named(app, "satosatosato").password_hash == user.password_hash


def test_changing_the_password_ends_other_sessions(app: Flask, sato: User, anonymous: FlaskClient) -> None:
    here, elsewhere = logged_in(app, sato), logged_in(app, sato)
    assert elsewhere.get("/").status_code == 200

    response = change(here, PASSWORD, NEW_PASSWORD)
    assert response.status_code == 302
    assert response.headers["Location"] == "/"
    assert "パスワードを変更しました。" in here.get("/").text  # this session goes on

    stale = elsewhere.get("/")
    assert stale.status_code == 302
    assert stale.headers["Location"] == "/login?next=/"

    assert login(anonymous, "sato", PASSWORD).status_code == 401
    assert login(anonymous, "sato", NEW_PASSWORD).status_code == 302
    [record] = audit_of(app, sato.id)[1:]
    assert (record.action, record.actor) == ("password_change", "sato")
    assert_no_secrets(app, [record], PASSWORD, NEW_PASSWORD)


# --- administration -----------------------------------------------------------------------------------


@pytest.fixture
def admin(app: Flask) -> FlaskClient:
    return logged_in(app, make_user(app, Role.ADMIN, "admin-user"))


def user_form(**changes: str) -> dict[str, str]:
    form = {"display_name": "", "role": "hq", "organisation": "", "active": "y"}
    form.update(changes)
    return form


def test_admin_creates_a_user_who_logs_in_with_the_password_shown_once(
    app: Flask, admin: FlaskClient, anonymous: FlaskClient
) -> None:
    response = admin.post(
        "/admin/users/new",
        data=user_form(username="ito", display_name="伊藤", role="municipality", organisation="053619"),
    )
    assert response.status_code == 200
    assert "<h1>ito のパスワード</h1>" in response.text
    password = shown_password(response)
    assert len(password) >= 16
    assert password not in admin.get("/admin/users").text

    user = user_named(app, "ito")
    assert (user.role, user.display_name, user.active) == ("municipality", "伊藤", True)
    assert login(anonymous, "ito", password).status_code == 302

    [record] = audit_of(app, user.id)
    assert (record.action, record.actor) == ("create", "admin-user")
    assert record.after == {
        "username": "ito",
        "display_name": "伊藤",
        "role": "municipality",
        "organisation": "053619",
        "active": True,
    }
    assert_no_secrets(app, [record], password)


def test_admin_new_user_refusals(admin: FlaskClient, app: Flask) -> None:
    taken = admin.post("/admin/users/new", data=user_form(username="admin-user"))
    assert field_error(taken, "username") == "ユーザー名「admin-user」は使われています。"
    town = admin.post("/admin/users/new", data=user_form(username="ito", role="municipality"))
    assert field_error(town, "organisation") == "市町村ユーザーには所属団体が必要です。"
    with app.app_context():
        assert db.session.scalar(select(User).where(User.username == "ito")) is None


def test_deactivating_a_user_stops_their_login(
    app: Flask, admin: FlaskClient, sato: User, anonymous: FlaskClient
) -> None:
    session = logged_in(app, sato)
    assert session.get("/").status_code == 200
    data = user_form(display_name="佐藤")
    del data["active"]
    response = admin.post(f"/admin/users/{sato.id}", data=data)
    assert response.status_code == 200
    assert "sato を更新しました。" in response.text

    assert user_named(app, "sato").active is False
    assert session.get("/").status_code == 302
    assert login(anonymous, "sato", PASSWORD).status_code == 401

    [record] = audit_of(app, sato.id)[1:]
    assert (record.action, record.actor) == ("update", "admin-user")
    assert record.before is not None and record.after is not None
    assert (record.before["active"], record.after["active"]) == (True, False)
    assert (record.before["display_name"], record.after["display_name"]) == ("sato", "佐藤")
    assert_no_secrets(app, [record], PASSWORD)


def test_admin_resets_a_password(app: Flask, admin: FlaskClient, sato: User, anonymous: FlaskClient) -> None:
    session = logged_in(app, sato)
    response = admin.post(f"/admin/users/{sato.id}/reset-password")
    assert response.status_code == 200
    password = shown_password(response)
    assert password != PASSWORD

    assert session.get("/").status_code == 302
    assert login(anonymous, "sato", PASSWORD).status_code == 401
    assert login(anonymous, "sato", password).status_code == 302

    [record] = audit_of(app, sato.id)[1:]
    assert (record.action, record.actor) == ("password_reset", "admin-user")
    assert_no_secrets(app, [record], PASSWORD, password)


def test_a_reset_lifts_the_lock(app_with: Callable[..., Flask]) -> None:
    app = app_with(**LOCK_AFTER_3)
    sato = make_user(app, Role.HQ, "sato")
    client = app.test_client()
    for _ in range(3):
        login(client, "sato", WRONG)
    assert error_on(login(client, "sato", PASSWORD)).startswith(LOCKED)

    admin = logged_in(app, make_user(app, Role.ADMIN, "admin-user"))
    password = shown_password(admin.post(f"/admin/users/{sato.id}/reset-password"))
    assert login(client, "sato", password).status_code == 302


def test_an_admin_cannot_remove_their_own_admin_role(app: Flask, admin: FlaskClient) -> None:
    me = user_named(app, "admin-user")
    for data in (user_form(role="hq"), {k: v for k, v in user_form(role="admin").items() if k != "active"}):
        response = admin.post(f"/admin/users/{me.id}", data=data)
        assert response.status_code == 200
        assert error_on(response) == "自分自身の管理者権限は外せません（他の管理者に依頼してください）。"
        after = user_named(app, "admin-user")
        assert (after.role, after.active) == ("admin", True)
    assert admin.get("/admin/users").status_code == 200
    assert audit_of(app, me.id)[1:] == []


# --- the create-user command --------------------------------------------------------------------------


def printed_password(output: str) -> str:
    [password] = re.findall(r"password \(shown once\): (\S+)", output)
    return password


def test_create_user_prints_a_password_once(
    app: Flask, runner: FlaskCliRunner, anonymous: FlaskClient
) -> None:
    result = runner.invoke(args=["create-user", "kato", "--role", "reviewer"])
    assert result.exit_code == 0, result.output
    password = printed_password(result.output)
    assert result.output.count(password) == 1
    assert "created user kato (総合防災課（確認・締め）)" in result.output

    assert login(anonymous, "kato", password).status_code == 302
    assert anonymous.get("/audit").status_code == 200
    user = user_named(app, "kato")
    [record] = audit_of(app, user.id)
    assert (record.action, record.actor) == ("create", "cli")
    assert_no_secrets(app, [record], password)


def test_create_user_reads_the_password_from_stdin(
    app: Flask, runner: FlaskCliRunner, anonymous: FlaskClient
) -> None:
    result = runner.invoke(
        args=["create-user", "ito", "--role", "municipality", "--org", "053619", "--password-stdin"],
        input="a password from stdin\n",
    )
    assert result.exit_code == 0, result.output
    assert "password" not in result.output
    assert "a password from stdin" not in result.output
    assert user_named(app, "ito").organisation_id is not None
    assert login(anonymous, "ito", "a password from stdin").status_code == 302


def test_create_user_refuses_a_short_password_from_stdin(app: Flask, runner: FlaskCliRunner) -> None:
    result = runner.invoke(args=["create-user", "ito", "--role", "hq", "--password-stdin"], input="short\n")
    assert result.exit_code == 1
    assert "パスワードは12文字以上にしてください。" in result.output
    with app.app_context():
        assert db.session.scalar(select(User).where(User.username == "ito")) is None


def test_create_user_municipality_needs_an_organisation(app: Flask, runner: FlaskCliRunner) -> None:
    result = runner.invoke(args=["create-user", "ito", "--role", "municipality"])
    assert result.exit_code == 1
    assert "市町村ユーザーには所属団体が必要です。" in result.output
    unknown = runner.invoke(args=["create-user", "ito", "--role", "municipality", "--org", "999999"])
    assert unknown.exit_code == 1
    assert "団体コード「999999」は登録されていません。" in unknown.output
    with app.app_context():
        assert db.session.scalar(select(User).where(User.username == "ito")) is None


def test_create_user_twice_fails_unless_reset_if_exists(
    app: Flask, runner: FlaskCliRunner, anonymous: FlaskClient
) -> None:
    first = printed_password(runner.invoke(args=["create-user", "kato", "--role", "reviewer"]).output)
    again = runner.invoke(args=["create-user", "kato", "--role", "reviewer"])
    assert again.exit_code == 1
    assert "ユーザー名「kato」は使われています。" in again.output

    reset = runner.invoke(args=["create-user", "kato", "--role", "reviewer", "--reset-if-exists"])
    assert reset.exit_code == 0, reset.output
    assert "user kato exists; new password (shown once):" in reset.output
    second = printed_password(reset.output)
    assert second != first
    assert login(anonymous, "kato", first).status_code == 401
    assert login(anonymous, "kato", second).status_code == 302

    user = user_named(app, "kato")
    records = audit_of(app, user.id)
    assert [(r.action, r.actor) for r in records] == [("create", "cli"), ("password_reset", "cli")]
    assert_no_secrets(app, records, first, second)

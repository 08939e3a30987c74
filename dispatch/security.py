"""Passwords, login throttling and the HTTP headers every response carries.

Failed logins are counted in the database, per account and per address, so that every web worker sees the
same count: after a few failures each further attempt must wait longer, and after more the account (or the
address) is locked for a while. An office behind one proxy shares an address, so addresses lock later.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from flask import Flask, Response, request
from flask.sessions import SecureCookieSessionInterface
from sqlalchemy import and_, case, delete, select
from sqlalchemy.dialects import postgresql, sqlite
from werkzeug.security import check_password_hash, generate_password_hash

from .extensions import db
from .models import LoginThrottle, User

MIN_PASSWORD_LENGTH = 10

# Nothing from outside, no framing, no inline script: LGWAN pages load only from the app itself.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
)


def hash_password(password: str) -> str:
    return generate_password_hash(password, method="scrypt")


def password_matches(user: User | None, password: str) -> bool:
    if user is None:
        # Spend the same time as for a real account, so timing does not tell which usernames exist.
        check_password_hash(_DUMMY_HASH, password)
        return False
    return check_password_hash(user.password_hash, password)


_DUMMY_HASH = generate_password_hash(secrets.token_hex(16), method="scrypt")


def generate_password() -> str:
    """A strong password for a new or reset account: about 96 bits, easy to type from a printout."""
    return secrets.token_urlsafe(12)


def password_problem(password: str, username: str) -> str | None:
    if len(password) < MIN_PASSWORD_LENGTH:
        return f"パスワードは{MIN_PASSWORD_LENGTH}文字以上にしてください。"
    if password.lower() == username.lower():
        return "ユーザー名と同じパスワードは使えません。"
    return None


@dataclass(frozen=True)
class ThrottlePolicy:
    slow_after: int = 3
    lock_after: int = 10
    address_lock_after: int = 50
    lock_for: timedelta = timedelta(minutes=15)
    max_delay: timedelta = timedelta(seconds=30)

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> ThrottlePolicy:
        return cls(
            slow_after=int(config.get("LOGIN_SLOW_AFTER", cls.slow_after)),
            lock_after=int(config.get("LOGIN_LOCK_AFTER", cls.lock_after)),
            address_lock_after=int(config.get("LOGIN_ADDRESS_LOCK_AFTER", cls.address_lock_after)),
            lock_for=timedelta(minutes=float(config.get("LOGIN_LOCK_MINUTES", 15))),
        )

    def delay(self, failures: int) -> timedelta:
        if failures < self.slow_after:
            return timedelta(0)
        return min(timedelta(seconds=2 ** (failures - self.slow_after)), self.max_delay)


def throttle_keys(username: str, address: str) -> list[str]:
    return [f"user:{username.strip().lower()}", f"addr:{address}"]


def login_refusal(keys: list[str], now: datetime, policy: ThrottlePolicy) -> str | None:
    """Why a login attempt must not even be checked now, in Japanese; None when it may proceed."""
    for row in db.session.scalars(select(LoginThrottle).where(LoginThrottle.key.in_(keys))):
        if row.locked_until is not None:
            if now < row.locked_until:
                minutes = max(1, int((row.locked_until - now).total_seconds() // 60) + 1)
                return (
                    f"ログインの失敗が続いたため、一時的にロックしています。約{minutes}分後にもう一度お試しください。"
                    "急ぐ場合は管理者に連絡してください。"
                )
            # The lock has run out: the count starts again at the next failure (record_failure).
            continue
        wait = row.last_failure_at + policy.delay(row.failures) - now
        if wait > timedelta(0):
            seconds = int(wait.total_seconds()) + 1
            return f"ログインの失敗が続いています。{seconds}秒待ってからもう一度お試しください。"
    return None


def record_failure(keys: list[str], now: datetime, policy: ThrottlePolicy) -> None:
    # One statement per key, atomic on both databases, so two workers failing at once both count. A lock
    # that has run out starts the count again.
    insert = postgresql.insert if db.engine.dialect.name == "postgresql" else sqlite.insert
    expired = and_(LoginThrottle.locked_until.is_not(None), LoginThrottle.locked_until <= now)
    for key in keys:
        stmt = insert(LoginThrottle).values(key=key, failures=1, last_failure_at=now)
        stmt = stmt.on_conflict_do_update(
            index_elements=[LoginThrottle.key],
            set_={
                "failures": case((expired, 1), else_=LoginThrottle.failures + 1),
                "locked_until": case((expired, None), else_=LoginThrottle.locked_until),
                "last_failure_at": now,
            },
        )
        db.session.execute(stmt)
    for row in db.session.scalars(select(LoginThrottle).where(LoginThrottle.key.in_(keys))):
        db.session.refresh(row)
        limit = policy.address_lock_after if row.key.startswith("addr:") else policy.lock_after
        if row.failures >= limit and row.locked_until is None:
            row.locked_until = now + policy.lock_for


def clear_failures(username: str) -> None:
    """A successful login (or an admin's reset) clears the account's count, not the address's."""
    db.session.execute(delete(LoginThrottle).where(LoginThrottle.key == f"user:{username.lower()}"))


def safe_next(target: str | None) -> str | None:
    """A `next` that stays on this site: a path, never a scheme, a host or a protocol-relative URL."""
    if not target:
        return None
    target = target.replace("\\", "/")
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return None
    return target


class SessionInterface(SecureCookieSessionInterface):
    """The session cookie is Secure whenever the request came over HTTPS (behind the proxy, too)."""

    def get_cookie_secure(self, app: Flask) -> bool:
        return bool(app.config["SESSION_COOKIE_SECURE"]) or request.is_secure


def add_security_headers(response: Response) -> Response:
    response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    if request.is_secure:
        response.headers.setdefault("Strict-Transport-Security", "max-age=31536000")
    return response

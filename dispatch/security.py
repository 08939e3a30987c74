"""Passwords, login throttling, sessions that end at logout, and the HTTP headers every response carries.

Throttling: every password check (a login, and the current password on the change-password form) is counted
per account and per address within a sliding window (15 minutes by default, counted by the minute): a
failure older than that no longer counts, so no count grows forever. After a few failures within the
window an account's next check waits longer each time, and after more the account is locked for a while.
An address is never slowed, only locked, and at a count far above an account's: an office behind one proxy
shares an address, and a colleague's typos must not keep a correct password out.

The count is kept in the database so every worker sees it, and taken *before* the password is checked, in
a short transaction of its own (``begin_check``): the check counts as a failure from the start and is taken
off again when the password was right (``check_succeeded``). Parallel guesses therefore each see the ones
before them and no more checks than the limit are ever made, while the password hash runs without any lock;
only the outcome is written under the write lock, after the hash.
"""

from __future__ import annotations

import math
import re
import secrets
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from flask import Flask, Response, request
from flask.sessions import SecureCookieSessionInterface
from sqlalchemy import Connection, delete, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from werkzeug.security import check_password_hash, generate_password_hash
from zxcvbn import zxcvbn
from zxcvbn.frequency_lists import FREQUENCY_LISTS

from .extensions import db
from .models import LoginThrottle, User
from .write_lock import core_transaction

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


# --- what a new password must not be ---------------------------------------------------------------------

MIN_PASSWORD_LENGTH = 12
# zxcvbn's score from 0 to 4; 3 means it takes about 10^8 guesses or more to find the password.
MIN_PASSWORD_SCORE = 3
# zxcvbn refuses longer input; what the first 72 characters are decides.
_ZXCVBN_MAX_LENGTH = 72
# The 30,000 passwords found most often in leaked password lists, as zxcvbn ships them (lower case).
COMMON_PASSWORDS = frozenset(FREQUENCY_LISTS["passwords"])
# zxcvbn keeps the words it is given (the user name) in a module-wide dictionary while it runs.
_ZXCVBN_LOCK = threading.Lock()
_REPEATED = re.compile(r"(.+?)\1+", re.DOTALL)

TOO_SHORT = f"パスワードは{MIN_PASSWORD_LENGTH}文字以上にしてください。"
BLANK = "空白だけのパスワードは使えません。"
REPEATED = "同じ文字や同じ並びを繰り返しただけのパスワードは使えません。"
USERNAME = "ユーザー名やその繰り返し・逆さ読み（大文字・小文字の違いを含む）はパスワードに使えません。"
COMMON = "よく使われるパスワードの一覧に載っているため使えません。"
_GUESSABLE = {
    "username": USERNAME,
    "dictionary": "よく使われるパスワードや英単語・人名をもとにしていて、推測されやすいため使えません。",
    "spatial": "キーボードの並び（qwerty、asdf など）をもとにしていて、推測されやすいため使えません。",
    "sequence": "連続した文字や数字（abcd、1234 など）をもとにしていて、推測されやすいため使えません。",
    "repeat": REPEATED,
    "date": "日付や年をもとにしていて、推測されやすいため使えません。",
}
_GUESSABLE_OTHERWISE = "推測されやすいパスワードです。"
_ADVICE = "関係のない単語を3〜4語つなげるなど、長く推測しにくいものにしてください。"


def password_problem(password: str, username: str) -> str | None:
    """Why a new password is refused, in Japanese; None when it may be used."""
    if len(password) < MIN_PASSWORD_LENGTH:
        return TOO_SHORT
    if not password.strip():
        return BLANK
    typed = "".join(password.split()).casefold()
    if _is_the_username(typed, username.casefold()):
        return USERNAME
    if _REPEATED.fullmatch(password):
        return REPEATED
    if typed in COMMON_PASSWORDS or password.strip().casefold() in COMMON_PASSWORDS:
        return COMMON
    return _guessable(password, username)


def _is_the_username(typed: str, name: str) -> bool:
    """The name, the name more than once, or the name backwards."""
    return bool(name) and any(re.fullmatch(f"(?:{re.escape(form)})+", typed) for form in (name, name[::-1]))


def _guessable(password: str, username: str) -> str | None:
    with _ZXCVBN_LOCK:
        result = zxcvbn(password[:_ZXCVBN_MAX_LENGTH], user_inputs=[username])
    if result["score"] >= MIN_PASSWORD_SCORE:
        return None
    reason = _GUESSABLE.get(_weakest_part(result["sequence"]), _GUESSABLE_OTHERWISE)
    return reason + _ADVICE


def _weakest_part(matches: Sequence[Any]) -> str:
    """What the longest guessable part of the password is: a common word, a keyboard row, a sequence …"""
    found = [match for match in matches if match["pattern"] != "bruteforce"]
    if not found:
        return ""
    longest = max(found, key=lambda match: len(match["token"]))
    if longest.get("dictionary_name") == "user_inputs":
        return "username"
    return "date" if longest["pattern"] == "regex" else str(longest["pattern"])


# --- throttling -----------------------------------------------------------------------------------------

ACCOUNT = "user:"
ADDRESS = "addr:"


@dataclass(frozen=True)
class ThrottlePolicy:
    slow_after: int = 3
    lock_after: int = 10
    address_lock_after: int = 50
    window: timedelta = timedelta(minutes=15)
    lock_for: timedelta = timedelta(minutes=15)
    max_delay: timedelta = timedelta(seconds=30)

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> ThrottlePolicy:
        return cls(
            slow_after=int(config.get("LOGIN_SLOW_AFTER", cls.slow_after)),
            lock_after=int(config.get("LOGIN_LOCK_AFTER", cls.lock_after)),
            address_lock_after=int(config.get("LOGIN_ADDRESS_LOCK_AFTER", cls.address_lock_after)),
            window=timedelta(minutes=float(config.get("LOGIN_WINDOW_MINUTES", 15))),
            lock_for=timedelta(minutes=float(config.get("LOGIN_LOCK_MINUTES", 15))),
        )

    def limit(self, key: str) -> int:
        """Failures within the window that lock the key."""
        return self.address_lock_after if key.startswith(ADDRESS) else self.lock_after

    def delay(self, key: str, failures: int) -> timedelta:
        """How long after the last failure the next check must wait (an address never waits)."""
        if key.startswith(ADDRESS) or failures < self.slow_after:
            return timedelta(0)
        return min(timedelta(seconds=2 ** min(failures - self.slow_after, 30)), self.max_delay)


def throttle_keys(username: str, address: str) -> list[str]:
    return [f"{ACCOUNT}{username.strip().lower()}", f"{ADDRESS}{address}"]


@dataclass(frozen=True)
class PasswordCheck:
    """One password check, counted before it is made: refused (and not counted), or to be made."""

    keys: tuple[str, ...]
    started_at: datetime
    refusal: str | None = None


# Failures are counted by the minute they happened in, so a row stays small whatever the limits: a failure
# counts until its minute has wholly left the window (for 15 to 16 minutes with the default window).
MINUTE = timedelta(minutes=1)


def _minute(moment: datetime) -> str:
    return moment.replace(second=0, microsecond=0).isoformat()


@dataclass
class _Count:
    """One key's failures within the window, as read from its row (locked while it is changed)."""

    key: str
    by_minute: dict[str, int]
    last_failure_at: datetime
    locked_until: datetime | None = None
    limit: int = field(default=0, repr=False)

    @classmethod
    def of(cls, row: Any, policy: ThrottlePolicy) -> _Count:
        by_minute = dict(row.failures_by_minute)
        return cls(row.key, by_minute, row.last_failure_at, row.locked_until, policy.limit(row.key))

    @property
    def failures(self) -> int:
        return sum(self.by_minute.values())

    def settle(self, now: datetime, policy: ThrottlePolicy) -> None:
        """Forget what the window has left behind; a lock that has run out starts the count again."""
        if self.locked_until is None and self.failures >= self.limit:
            self.locked_until = self.last_failure_at + policy.lock_for
        if self.locked_until is not None and self.locked_until <= now:
            self.by_minute, self.locked_until = {}, None
        left_behind = now - policy.window
        self.by_minute = {
            minute: count
            for minute, count in self.by_minute.items()
            if datetime.fromisoformat(minute) + MINUTE > left_behind
        }

    def refusal(self, now: datetime, policy: ThrottlePolicy) -> str | None:
        if self.locked_until is not None:
            minutes = max(1, math.ceil((self.locked_until - now).total_seconds() / 60))
            return (
                f"ログインの失敗が続いたため、一時的にロックしています。約{minutes}分後にもう一度お試しください。"
                "急ぐ場合は管理者に連絡してください。"
            )
        delay = policy.delay(self.key, self.failures)
        # No delay, no wait: a failure another worker answered after this check's `now` was taken (it waited
        # for the rows' lock) must not read as a wait still to run.
        wait = self.last_failure_at + delay - now
        if delay and wait > timedelta(0):
            seconds = int(wait.total_seconds()) + 1
            return f"ログインの失敗が続いています。{seconds}秒待ってからもう一度お試しください。"
        return None

    def add(self, now: datetime) -> None:
        minute = _minute(now)
        self.by_minute[minute] = self.by_minute.get(minute, 0) + 1
        self.last_failure_at = max(self.last_failure_at, now)

    def values(self) -> dict[str, Any]:
        return {
            "failures_by_minute": self.by_minute,
            "last_failure_at": self.last_failure_at,
            "locked_until": self.locked_until,
        }


def begin_check(keys: Sequence[str], now: datetime, policy: ThrottlePolicy) -> PasswordCheck:
    """Count a password check before it is made, or refuse it: one short write of its own, committed at
    once, with every key's row locked while it is read and written, so that parallel checks take turns."""
    with _short_write() as conn:
        counts = _locked_counts(conn, sorted(set(keys)), now, policy)
        refusal = next(filter(None, (count.refusal(now, policy) for count in counts)), None)
        for count in counts:
            if refusal is None:
                count.add(now)
            conn.execute(update(LoginThrottle).where(LoginThrottle.key == count.key).values(**count.values()))
        _forget_stale(conn, now, policy)
    return PasswordCheck(tuple(keys), now, refusal)


def check_failed(check: PasswordCheck, answered_at: datetime) -> None:
    """The password was wrong: the check stays counted, and the wait before the next one runs from when the
    failure was answered (a hash slowed by a busy server must not eat the wait). Under the write lock."""
    db.session.execute(
        update(LoginThrottle)
        .where(LoginThrottle.key.in_(check.keys), LoginThrottle.last_failure_at < answered_at)
        .values(last_failure_at=answered_at)
    )


def check_succeeded(check: PasswordCheck) -> None:
    """The password was right: the account's count is cleared, and the check is taken off the address's
    count, so that logging in never adds to it. Under the write lock."""
    for key in check.keys:
        if key.startswith(ACCOUNT):
            db.session.execute(delete(LoginThrottle).where(LoginThrottle.key == key))
            continue
        row = db.session.scalars(
            select(LoginThrottle)
            .where(LoginThrottle.key == key)
            .with_for_update()
            .execution_options(populate_existing=True)
        ).one_or_none()
        minute = _minute(check.started_at)
        if row is not None and row.failures_by_minute.get(minute, 0) > 0:
            by_minute = dict(row.failures_by_minute)
            by_minute[minute] -= 1
            row.failures_by_minute = {minute: count for minute, count in by_minute.items() if count}


def clear_failures(username: str) -> None:
    """An admin's password reset lifts the account's count and lock (not the address's)."""
    db.session.execute(delete(LoginThrottle).where(LoginThrottle.key == f"{ACCOUNT}{username.lower()}"))


def _locked_counts(conn: Connection, keys: list[str], now: datetime, policy: ThrottlePolicy) -> list[_Count]:
    insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    for key in keys:  # in key order, as every check locks them, so two checks never wait on each other
        conn.execute(
            insert(LoginThrottle)
            .values(key=key, failures_by_minute={}, last_failure_at=now)
            .on_conflict_do_nothing(index_elements=[LoginThrottle.key])
        )
    rows = conn.execute(
        select(LoginThrottle).where(LoginThrottle.key.in_(keys)).order_by(LoginThrottle.key).with_for_update()
    )
    counts = [_Count.of(row, policy) for row in rows]
    for count in counts:
        count.settle(now, policy)
    return counts


def _forget_stale(conn: Connection, now: datetime, policy: ThrottlePolicy) -> None:
    """Rows whose every failure has left the window and whose lock has run out say nothing: delete a few,
    passing over any another check holds."""
    stale = (
        select(LoginThrottle.key)
        .where(
            LoginThrottle.last_failure_at <= now - policy.window - MINUTE,
            or_(LoginThrottle.locked_until.is_(None), LoginThrottle.locked_until <= now),
        )
        .limit(100)
        .with_for_update(skip_locked=True)
    )
    conn.execute(delete(LoginThrottle).where(LoginThrottle.key.in_(stale)))


@contextmanager
def _short_write() -> Iterator[Connection]:
    """A write of its own, under the one write-lock protocol, committed before the page goes on. Never
    called while the page's session holds the write lock (a SQLite writer would wait for itself)."""
    with db.engine.connect() as conn, core_transaction(conn) as writer:
        yield writer


# --- sessions -------------------------------------------------------------------------------------------


def end_sessions(user_id: int) -> None:
    """Logging out ends every session of the user, in every browser: the session version in every session
    id (User.get_id) is raised, in a short write of its own. Copies of the cookie log nobody in again."""
    with _short_write() as conn:
        conn.execute(update(User).where(User.id == user_id).values(session_version=User.session_version + 1))


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
    if request.endpoint != "static":
        # No page, export or JSON is kept by the browser or a proxy: after logging out, Back shows nothing,
        # and a shared terminal keeps no copy of another person's figures.
        response.headers["Cache-Control"] = "no-store"
    if request.is_secure:
        response.headers.setdefault("Strict-Transport-Security", "max-age=31536000")
    return response

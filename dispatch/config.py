"""Configuration defaults. Read once, by create_app; nothing here reads the environment at import."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from .limits import EXPORT_JOB_KEEP_HOURS, EXPORT_JOB_ROWS

DEV_SECRET_KEY = "dev-only-not-secret"
TIME_ZONE = "Asia/Tokyo"


def default_settings() -> dict[str, Any]:
    return {
        "SECRET_KEY": DEV_SECRET_KEY,
        # The instance/config.py the secret key was read from (set by create_app), for /healthz to check
        # that nobody else may read it.
        "SECRET_KEY_FILE": None,
        # "production" refuses the development secret key; set DISPATCH_ENV_NAME=development to relax.
        "ENV_NAME": "production",
        "SQLALCHEMY_DATABASE_URI": None,
        "SQLALCHEMY_ENGINE_OPTIONS": {"pool_pre_ping": True},
        "ENTRIES_PER_PAGE": 50,
        # Days after today (in Japan) an entry may be dated: a rota is entered a few days ahead, a year
        # typo (2123, 令和99年) is not (entries.latest_entry_date).
        "ENTRY_HORIZON_DAYS": 7,
        "MAX_CONTENT_LENGTH": 32 * 1024 * 1024,
        # Seconds a write waits for the write lock before it gives up with 「混み合っています」 (write_lock.py).
        "WRITE_LOCK_TIMEOUT_SECONDS": 10,
        "WTF_CSRF_TIME_LIMIT": None,
        # WTForms ships Japanese messages; Flask-WTF would look for Flask-Babel instead.
        "WTF_I18N_ENABLED": False,
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        # Also Secure whenever the request came over HTTPS (see security.SessionInterface).
        "SESSION_COOKIE_SECURE": False,
        "PERMANENT_SESSION_LIFETIME": 12 * 60 * 60,
        # How many reverse proxies stand in front of the app (0: none; their headers are ignored).
        "TRUSTED_PROXIES": 0,
        # Login throttling (security.ThrottlePolicy): failures count for LOGIN_WINDOW_MINUTES; an account
        # waits after 3 failures within it and is locked after 10, an address only locks, after 50.
        "LOGIN_WINDOW_MINUTES": 15,
        "LOGIN_SLOW_AFTER": 3,
        "LOGIN_LOCK_AFTER": 10,
        "LOGIN_ADDRESS_LOCK_AFTER": 50,
        "LOGIN_LOCK_MINUTES": 15,
        # Outgoing mail (dispatch.mail): DISPATCH_MAIL_SERVER, DISPATCH_MAIL_PORT, ... MAIL_FROM must be
        # set before any digest can go out. MAIL_TIMEOUT bounds the connection and every send (seconds).
        "MAIL_SERVER": "127.0.0.1",
        "MAIL_PORT": 25,
        "MAIL_FROM": "",
        "MAIL_USE_STARTTLS": False,
        "MAIL_USE_SSL": False,
        "MAIL_USERNAME": "",
        "MAIL_PASSWORD": "",
        "MAIL_TIMEOUT": 30,
        # A failed digest is tried this many times in all (backoff 5, 15, 45 ... minutes).
        "MAIL_MAX_ATTEMPTS": 5,
        # The app's address as recipients reach it, for the link in each digest (DISPATCH_BASE_URL).
        "BASE_URL": "http://127.0.0.1:5000",
        # The scheduler (dispatch.scheduler, `flask run-scheduler`): the morning digest at DIGEST_TIME in
        # Japan (DISPATCH_DIGEST_TIME="08:00"), failed digests retried every DIGEST_RETRY_MINUTES.
        "DIGEST_TIME": "08:00",
        "DIGEST_RETRY_MINUTES": 10,
        # Whose tool this is (自団体): an organisation's code, e.g. DISPATCH_OWN_ORGANISATION=050008 for 秋田県.
        # Reports and the dashboard speak from its side (viewpoint.py); unset, from the affected prefecture's.
        "OWN_ORGANISATION": None,
        # An .xlsx export of more entries than EXPORT_JOB_ROWS is built by the scheduler as a job
        # (export_jobs.py), which looks for queued ones every EXPORT_JOB_POLL_SECONDS; a built file is kept
        # EXPORT_JOB_KEEP_HOURS in EXPORT_JOB_FOLDER (None: instance/exports).
        "EXPORT_JOB_ROWS": EXPORT_JOB_ROWS,
        "EXPORT_JOB_POLL_SECONDS": 5,
        "EXPORT_JOB_KEEP_HOURS": EXPORT_JOB_KEEP_HOURS,
        "EXPORT_JOB_FOLDER": None,
        # A large web import's progress files (import_jobs.py); None: instance/imports.
        "IMPORT_JOB_FOLDER": None,
    }


def own_organisation_code(value: object) -> str | None:
    """OWN_ORGANISATION as a code, or None when unset. Flask reads DISPATCH_OWN_ORGANISATION=240001 as a
    number (JSON), so it is taken back as text; a value that cannot be a code refuses to start, rather than
    reports silently speaking for nobody."""
    if value is None or value == "":
        return None
    code = str(value).strip().upper()
    if re.fullmatch(r"X\d{4,}", code) or (re.fullmatch(r"\d{6}", code) and _check_digit_holds(code)):
        return code
    raise ValueError(
        f"OWN_ORGANISATION={value!r} is not an organisation code: give a 6-digit 全国地方公共団体コード "
        "(050008 for 秋田県) or another body's X code."
    )


def _check_digit_holds(code: str) -> bool:
    from .models import lg_check_digit

    return lg_check_digit(code[:5]) == code[5]


def database_url(env_value: str | None, instance_path: str) -> str:
    """DATABASE_URL when set, otherwise SQLite in the instance folder.

    A bare postgresql:// is made explicit as psycopg 3, the driver this project pins.
    """
    if env_value:
        if env_value.startswith(("postgres://", "postgresql://")):
            return "postgresql+psycopg://" + env_value.split("://", 1)[1]
        return env_value
    return "sqlite:///" + str(Path(instance_path) / "dispatch.sqlite")

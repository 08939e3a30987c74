"""Concurrent entry through gunicorn with several workers: nothing lost, nothing doubled, no 5xx.

Eight clients log in through the real login page and, at once, enter dispatches, edit them, import files,
and race each other on the same keys. Bounded in count and time; 127.0.0.1 only. Runs on SQLite, and on
PostgreSQL when TEST_DATABASE_URL is set. On SQLite a backup is taken while the clients write.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from http.cookiejar import CookieJar
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import func, select

from dispatch import tally_check
from dispatch.backup import backup_sqlite, verify
from dispatch.extensions import db
from dispatch.models import Disaster, Entry, Role
from dispatch.totals import headline
from tests.conftest import POSTGRES_URL
from tests.factories import BASE, PASSWORD, SLUG, make_user

ROOT = Path(__file__).resolve().parents[1]
CLIENTS = 8
WORKERS = 4
OWN_ENTRIES = 12  # per client
RACES = 6  # keys every client tries to enter at the same moment
REQUEST_TIMEOUT = 30
SENDERS = ["052027", "052035", "052043", "052078", "052094", "052108", "052116", "052124"]
START = date(2023, 11, 1)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def gunicorn(app: Flask, demo: None, database_url: str, tmp_path: Path) -> Iterator[str]:
    for n in range(CLIENTS):
        make_user(app, Role.HQ, f"hq{n}")
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "DISPATCH_SECRET_KEY": "load-test-secret",
        "DISPATCH_ENV_NAME": "test",
        "DISPATCH_LOGIN_SLOW_AFTER": "1000",
    }
    log = (tmp_path / "gunicorn.log").open("w")
    process = subprocess.Popen(
        [
            sys.executable, "-m", "gunicorn", "--workers", str(WORKERS), "--threads", "2",
            "--bind", f"127.0.0.1:{port}", "--timeout", "60", "wsgi:app",
        ],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(f"{base}/healthz", timeout=2).close()
                break
            except OSError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise RuntimeError((tmp_path / "gunicorn.log").read_text()) from None
                time.sleep(0.2)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


@dataclass
class Client:
    base: str
    username: str
    statuses: list[int] = field(default_factory=list)
    accepted: list[tuple[str, str, int]] = field(default_factory=list)  # (date, sender, headcount)

    def __post_init__(self) -> None:
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(CookieJar()), NoRedirect()
        )

    def request(
        self, path: str, data: dict[str, str] | None = None, files: bytes | None = None
    ) -> tuple[int, str]:
        body = None
        headers = {}
        if files is not None:
            boundary = "----dispatchload"
            parts = []
            for key, value in (data or {}).items():
                parts.append(
                    f'--{boundary}\r\nContent-Disposition: form-data; name="{key}"\r\n\r\n{value}\r\n'.encode()
                )
            parts.append(
                f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="load.csv"\r\n'
                "Content-Type: text/csv\r\n\r\n".encode()
                + files
                + b"\r\n"
            )
            parts.append(f"--{boundary}--\r\n".encode())
            body = b"".join(parts)
            headers["Content-Type"] = f"multipart/form-data; boundary={boundary}"
        elif data is not None:
            body = urllib.parse.urlencode(data).encode()
        req = urllib.request.Request(self.base + path, data=body, headers=headers)
        try:
            with self.opener.open(req, timeout=REQUEST_TIMEOUT) as response:
                status, text = response.status, response.read().decode()
        except urllib.error.HTTPError as error:
            status, text = error.code, error.read().decode()
        self.statuses.append(status)
        return status, text

    def token(self, path: str) -> str:
        status, text = self.request(path)
        assert status == 200, (path, status)
        match = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', text)
        assert match, path
        return match.group(1)

    def log_in(self) -> None:
        token = self.token("/login")
        status, _ = self.request(
            "/login", {"csrf_token": token, "username": self.username, "password": PASSWORD}
        )
        assert status == 302

    def enter(self, token: str, day: date, sender: str, headcount: int) -> int:
        status, _ = self.request(
            f"{BASE}/entries/new",
            {
                "csrf_token": token,
                "date": day.isoformat(),
                "operation": "relief-act",
                "sender": sender,
                "sender_unit": "",
                "destination": "053619",
                "duty": "relief_act",
                "headcount": str(headcount),
                "note": "",
            },
        )
        if status == 302:
            self.accepted.append((day.isoformat(), sender, headcount))
        return status


def run_client(
    client: Client, number: int, barrier: threading.Barrier, failures: list[BaseException]
) -> None:
    try:
        client.log_in()
        token = client.token(f"{BASE}/entries/new")
        sender = SENDERS[number]
        for i in range(OWN_ENTRIES):
            assert client.enter(token, START + timedelta(days=i), sender, 1 + (i + number) % 3) == 302
        # The same keys from every client at once: exactly one of each is accepted.
        for race in range(RACES):
            barrier.wait(timeout=60)
            client.enter(token, START + timedelta(days=40 + race), "052019", 2)
        # An import of rows only this client enters, and one that every client tries (one wins).
        own_rows = "".join(
            f"{(START + timedelta(days=20 + i)).isoformat()},relief-act,{sender},,053619,relief_act,1\n"
            for i in range(5)
        )
        header = "date,operation,sender,sender_unit,destination,duty,headcount\n"
        token = client.token(f"{BASE}/import")
        status, _ = client.request(
            f"{BASE}/import",
            {"csrf_token": token, "encoding": "auto"},
            files=(header + own_rows).encode(),
        )
        assert status == 302
        client.accepted += [(row.split(",")[0], sender, 1) for row in own_rows.splitlines()]
        shared = f"{(START + timedelta(days=50)).isoformat()},relief-act,052019,,053619,damage_survey,3\n"
        barrier.wait(timeout=60)
        status, _ = client.request(
            f"{BASE}/import",
            {"csrf_token": token, "encoding": "auto"},
            files=(header + shared).encode(),
        )
        if status == 302:
            client.accepted.append(((START + timedelta(days=50)).isoformat(), "052019-import", 3))
    except BaseException as exc:  # noqa: BLE001 - reported to the main thread
        failures.append(exc)


def test_concurrent_clients_through_gunicorn(
    gunicorn: str, app: Flask, database_url: str, tmp_path: Path
) -> None:
    with app.app_context():
        before = int(db.session.scalar(select(func.coalesce(func.sum(Entry.headcount), 0))))
        entries_before = int(db.session.scalar(select(func.count(Entry.id))))
    clients = [Client(gunicorn, f"hq{n}") for n in range(CLIENTS)]
    barrier = threading.Barrier(CLIENTS)
    failures: list[BaseException] = []
    threads = [
        threading.Thread(target=run_client, args=(c, n, barrier, failures), daemon=True)
        for n, c in enumerate(clients)
    ]
    started = time.monotonic()
    for t in threads:
        t.start()

    backup = None
    if not POSTGRES_URL:
        # A backup while the clients write holds everything committed before it began.
        time.sleep(1.0)
        with app.app_context():
            committed = int(db.session.scalar(select(func.count(Entry.id))))
        backup = backup_sqlite(database_url, tmp_path / "during-load.sqlite")

    for t in threads:
        t.join(timeout=240)
    elapsed = time.monotonic() - started
    assert not any(t.is_alive() for t in threads), "a client did not finish in time"
    assert failures == []

    statuses = [s for c in clients for s in c.statuses]
    assert all(s < 500 for s in statuses), sorted(set(statuses))
    accepted = [a for c in clients for a in c.accepted]
    races_won = [a for a in accepted if a[1] == "052019"]
    assert len(races_won) == RACES  # each raced key accepted exactly once
    assert len([a for a in accepted if a[1] == "052019-import"]) == 1
    refused = [s for s in statuses if s in (409, 422)]
    assert len(refused) == (CLIENTS - 1) * RACES + (CLIENTS - 1)

    with app.app_context():
        db.session.expire_all()
        total = int(db.session.scalar(select(func.sum(Entry.headcount))))
        count = int(db.session.scalar(select(func.count(Entry.id))))
        # Eight writers at once left the tally behind every total exactly in step with the entries.
        disaster = db.session.scalar(select(Disaster).where(Disaster.slug == SLUG))
        assert disaster is not None
        assert tally_check.check(disaster.id) == []
        assert headline(disaster, date(2099, 12, 31))[0] == total
    assert count == entries_before + len(accepted)
    assert total == before + sum(a[2] for a in accepted)
    # 8 clients × (12 own + 5 imported) + 6 races + 1 shared import
    assert len(accepted) == CLIENTS * (OWN_ENTRIES + 5) + RACES + 1
    print(
        f"\nload: {len(statuses)} requests from {CLIENTS} clients in {elapsed:.1f} s, {len(refused)} refused, 0 5xx"
    )

    if backup is not None:
        assert verify(backup.path).entries >= committed
        assert backup.entries >= committed

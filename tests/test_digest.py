"""The morning digest on the founding case, sent through a real SMTP server (aiosmtpd on 127.0.0.1).

The digest dated 2023-08-01 covers 2023-07-31 (令和5年7月31日時点). Figures worked out by hand from
dispatch/demo.py, and cross-checked once with SQL sums in test_figures_as_of_2023_07_31:

    五城目町 received on 7/31 (mutual aid, 家屋被害認定調査): 秋田県（建設部） 4, 由利本荘市 3, 鹿角市 2,
        三種町 2 -> 11
    五城目町 received as of 7/31: 4×10 + 2×8 + 3×4 + 2×8 = 84 (mutual aid)
        + water supply 秋田市 3×5 + 大仙市 2×7 + 仙北市 2×4 = 37 -> 延べ121; it sends nobody
    五城目町 already logged for 8/1: the four above (11) + 小坂町 1 + 羽後町 1 (罹災証明書) -> 13 in 6 entries
    秋田市 received on 7/31: 秋田県（総務部） 10, 秋田県（建設部） 10, 能代市 6, 大館市 6, 横手市 6,
        大仙市 6, 北秋田市 5, 仙北市 5 -> 54
    秋田市 received as of 7/31: water 6×8 + 8×7 + 5×7 + 4×6 = 163, surveys 80 + 40 + 36 + 30 + 24 + 24
        + 5 + 5 = 244 -> 延べ407; sent (上下水道局, water supply) 3×5 to 五城目町 + 2×4 to 男鹿市 -> 延べ23,
        none on 7/31; logged for 8/1: 54 + 秋田県（農林水産部） 4 + 美郷町 2 + 湯沢市 4 + にかほ市 3 -> 67 in 12
    秋田県 sent on 7/31: 秋田市 家屋被害認定調査 20 (総務部 10 + 建設部 10), 五城目町 4 -> 24;
        as of 7/31: 48 (water, 7/20-27) + 80 + 40 + 40 -> 延べ208; logged for 8/1: 24 + 4 -> 28 in 4
    the whole disaster as of 7/31: mutual aid 407 + 84 = 491 (65 on 7/31), water supply 105 (complete)
        -> 延べ596, 65 on 7/31; by destination 秋田市 407, 五城目町 121, 八峰町 24, 井川町 24, 男鹿市 20;
        logged for 8/1: 67 + 13 -> 80 in 18 entries
    小坂町 has nothing on 7/31 but its first entry (1 person to 五城目町) is dated 8/1: it gets a digest.
    男鹿市 received water supply until 7/23 (延べ20) and nothing on 7/31 or 8/1: no digest unless it asks.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from email.message import EmailMessage
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import event, select, text

from dispatch import digest
from dispatch.closing import close_day
from dispatch.delivery import _Ledger, backoff, retry_failed, send_due_digests
from dispatch.digest import preview
from dispatch.entries import EntryDraft, update_entry
from dispatch.extensions import db
from dispatch.models import (
    Delivery,
    DeliveryStatus,
    Disaster,
    Entry,
    Organisation,
    Recipient,
    RecipientKind,
    utcnow,
)
from dispatch.seeding import seed_founding_case
from tests import factories
from tests.conftest import statements_sent
from tests.factories import AKITA_CITY, AKITA_PREF, GOJOME, KOSAKA, OGA, SLUG
from tests.racing import at_once, in_context
from tests.smtp import SMTPServer

DIGEST_DATE = date(2023, 8, 1)
AS_OF = "令和5年7月31日時点"
DISASTER = "令和5年7月14日からの大雨"
LINK = "https://dispatch.example.lg.jp/disasters/akita-2023-rain/?as_of=2023-07-31"

GOSHIN = "goshin@example.lg.jp"
GOSHIN_SOMU = "somu@town.gojome.example.lg.jp"
AKITA = "akita@example.lg.jp"
PREF = "bousai@pref.akita.example.lg.jp"
KOSAKA_MAIL = "kosaka@example.lg.jp"
OGA_MAIL = "oga@example.lg.jp"
RETIRED = "retired@example.lg.jp"
DIVISION = "division@pref.akita.example.lg.jp"

# Who gets a digest dated 2023-08-01: not 男鹿市 (nothing to report) and not an inactive address.
EXPECTED = {GOSHIN, GOSHIN_SOMU, AKITA, PREF, KOSAKA_MAIL, DIVISION}


def add_recipient(code: str | None, email: str, **fields: Any) -> Recipient:
    organisation = db.session.scalar(select(Organisation).where(Organisation.code == code)) if code else None
    recipient = Recipient(
        kind=RecipientKind.ORGANISATION if code else RecipientKind.DIVISION,
        organisation_id=organisation.id if organisation else None,
        email=email,
        **fields,
    )
    db.session.add(recipient)
    db.session.flush()
    return recipient


@pytest.fixture
def demo_recipients(mail_app: Flask) -> None:
    with mail_app.app_context():
        seed_founding_case()
        add_recipient(GOJOME, GOSHIN)
        add_recipient(GOJOME, GOSHIN_SOMU, note="総務課")
        add_recipient(GOJOME, RETIRED, active=False)
        add_recipient(AKITA_CITY, AKITA)
        add_recipient(AKITA_PREF, PREF)
        add_recipient(KOSAKA, KOSAKA_MAIL)
        add_recipient(OGA, OGA_MAIL)
        add_recipient(None, DIVISION)
        db.session.commit()


@pytest.fixture
def run(mail_app: Flask) -> Callable[..., Any]:
    """Call a digest function inside the mail app's context."""

    def call(function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        with mail_app.app_context():
            return function(*args, **kwargs)

    return call


def deliveries(app: Flask) -> dict[str, Delivery]:
    with app.app_context():
        rows = db.session.execute(select(Recipient.email, Delivery).join(Delivery.recipient)).all()
        for _, delivery in rows:
            db.session.expunge(delivery)
        return {email: delivery for email, delivery in rows}


def body_of(message: EmailMessage) -> str:
    content = message.get_content()
    assert isinstance(content, str)
    return content


def numbers(pattern: str, body: str) -> tuple[int, ...]:
    """The figures a pattern's groups capture, as numbers (thousands separators removed)."""
    match = re.search(pattern, body, re.MULTILINE)
    assert match, f"{pattern!r} not in:\n{body}"
    return tuple(int(group.replace(",", "")) for group in match.groups())


def only(server: SMTPServer, address: str) -> EmailMessage:
    [message] = server.to(address)
    return message


# --- figures --------------------------------------------------------------------------------------------


def _org(code: str) -> Organisation:
    return factories.org(code)


def _demo_disaster() -> Disaster:
    return db.session.execute(select(Disaster).where(Disaster.slug == SLUG)).scalar_one()


def test_figures_as_of_2023_07_31(app: Flask, demo: None, ctx: None) -> None:
    since = utcnow() - timedelta(days=1)
    gojome = digest.organisation_digest(_org(GOJOME), DIGEST_DATE, since=since)
    assert gojome is not None
    [section] = gojome.sections
    assert (section.received_on_day, section.received_total) == (11, 121)
    assert (section.sent_on_day, section.sent_total) == (0, 0)
    assert (section.today_received, section.today_sent, section.today_entries) == (13, 0, 6)
    assert [(f.counterpart, f.duty, f.headcount) for f in section.received] == [
        ("秋田県（建設部）", "家屋被害認定調査", 4),
        ("由利本荘市", "家屋被害認定調査", 3),
        ("鹿角市", "家屋被害認定調査", 2),
        ("三種町", "家屋被害認定調査", 2),
    ]
    assert not section.closed and section.changes == []

    akita = digest.organisation_digest(_org(AKITA_CITY), DIGEST_DATE, since=since)
    assert akita is not None
    [section] = akita.sections
    assert (section.received_on_day, section.received_total) == (54, 407)
    assert (section.sent_on_day, section.sent_total) == (0, 23)
    assert (section.today_received, section.today_entries) == (67, 12)

    pref = digest.organisation_digest(_org(AKITA_PREF), DIGEST_DATE, since=since)
    assert pref is not None
    [section] = pref.sections
    assert (section.sent_on_day, section.sent_total, section.received_total) == (24, 208, 0)
    assert [(f.counterpart, f.duty, f.headcount) for f in section.sent] == [
        ("秋田市", "家屋被害認定調査", 20),
        ("五城目町", "家屋被害認定調査", 4),
    ]
    assert (section.today_sent, section.today_entries) == (28, 4)

    division = digest.division_digest(DIGEST_DATE, since=since)
    assert division is not None
    [whole] = division.sections
    assert (whole.person_days, whole.active) == (596, 65)
    assert [(r.key, r.person_days, r.active) for r in whole.by_operation] == [
        ("mutual-aid", 491, 65),
        ("water-supply", 105, 0),
    ]
    assert [(r.name, r.person_days, r.active) for r in whole.by_destination] == [
        ("秋田市", 407, 54),
        ("五城目町", 121, 11),
        ("八峰町", 24, 0),
        ("井川町", 24, 0),
        ("男鹿市", 20, 0),
    ]
    assert (whole.today_headcount, whole.today_entries) == (80, 18)
    assert division.failures == []

    # The same figures straight from the table, once, without the code under test.
    def sql(where: str) -> int:
        return int(db.session.scalar(text(f"SELECT COALESCE(SUM(headcount), 0) FROM entry {where}")))

    gojome_id, city_id = _org(GOJOME).id, _org(AKITA_CITY).id
    assert sql(f"WHERE destination_id = {gojome_id} AND date = '2023-07-31'") == 11
    assert sql(f"WHERE destination_id = {gojome_id} AND date <= '2023-07-31'") == 121
    assert sql(f"WHERE destination_id = {city_id} AND date <= '2023-07-31'") == 407
    assert sql(f"WHERE sender_id = {city_id} AND date <= '2023-07-31'") == 23
    assert sql("WHERE date <= '2023-07-31'") == 596
    assert sql("WHERE date = '2023-07-31'") == 65


def test_nothing_to_report(app: Flask, demo: None, ctx: None) -> None:
    since = utcnow() - timedelta(days=1)
    assert digest.organisation_digest(_org(OGA), DIGEST_DATE, since=since) is None
    # 小坂町's first entry is dated 8/1: entries already logged for the day are news.
    assert digest.organisation_digest(_org(KOSAKA), DIGEST_DATE, since=since) is not None
    # After the demo's last date, nobody has anything to report, the division included.
    quiet = date(2023, 12, 1)
    assert digest.organisation_digest(_org(GOJOME), quiet, since=since) is None
    assert digest.division_digest(quiet, since=since) is None


def test_preview(app: Flask, demo: None, ctx: None) -> None:
    subject, body = preview(_org(GOJOME), DIGEST_DATE) or ("", "")
    assert subject == f"【応援職員派遣 日報】{DISASTER} 五城目町 {AS_OF}"
    assert body.startswith(f"{AS_OF}\n")
    assert preview(_org(OGA), DIGEST_DATE) is None
    empty = preview(_org(OGA), DIGEST_DATE, include_empty=True)
    assert empty is not None
    assert numbers(r"^受入 7月31日 ([\d,]+)人／延べ([\d,]+)人$", empty[1]) == (0, 20)
    assert "7月31日の受入・派遣はありません。" in empty[1]
    division = preview(None, DIGEST_DATE)
    assert division is not None
    assert division[0] == f"【応援職員派遣 日報】{DISASTER} 全体 {AS_OF}"


def test_several_open_disasters_are_named_by_the_first(app: Flask, demo: None, ctx: None) -> None:
    other = factories.disaster("test-quake", start=date(2023, 7, 30))
    factories.entry(date(2023, 7, 31), 2, op=factories.operation(other), destination=GOJOME)
    subject, body = preview(_org(GOJOME), DIGEST_DATE) or ("", "")
    assert subject == f"【応援職員派遣 日報】{DISASTER}ほか 五城目町 {AS_OF}"
    assert body.count("■") == 2
    assert "■テスト豪雨（7月31日分は速報）\n受入 7月31日 2人／延べ2人" in body
    # A closed disaster is over: no longer reported.
    db.session.get_one(Disaster, other.id).closed_on = date(2023, 7, 31)
    db.session.flush()
    subject, _ = preview(_org(GOJOME), DIGEST_DATE) or ("", "")
    assert subject == f"【応援職員派遣 日報】{DISASTER} 五城目町 {AS_OF}"


# --- sending --------------------------------------------------------------------------------------------


def test_digests_reach_the_right_addresses_as_japanese_text(
    mail_app: Flask, demo_recipients: None, smtp_server: SMTPServer, run: Callable[..., Any]
) -> None:
    result = run(send_due_digests, DIGEST_DATE, worker="test")

    assert (result.sent, result.failed, result.skipped_taken, result.skipped_empty) == (6, 0, 0, 1)
    assert sorted(smtp_server.recipients()) == sorted(EXPECTED)
    for received in smtp_server.messages:
        received.data.decode("ascii")  # seven-bit on the wire: encoded words and base64
        message = received.parsed()
        assert message["From"] == "dispatch@example.lg.jp"
        assert message.get_content_type() == "text/plain"
        assert message.get_content_charset() == "utf-8"
        assert not message.is_multipart()
        assert message["Subject"].startswith("【応援職員派遣 日報】")
        assert message["Subject"].endswith(AS_OF)
        body = body_of(message)
        assert body.startswith(f"{AS_OF}\n")
        assert LINK in body

    goshin = only(smtp_server, GOSHIN)
    assert goshin["Subject"] == f"【応援職員派遣 日報】{DISASTER} 五城目町 {AS_OF}"
    body = body_of(goshin)
    assert numbers(r"^受入 7月31日 ([\d,]+)人／延べ([\d,]+)人$", body) == (11, 121)
    assert numbers(r"^・秋田県（建設部） 家屋被害認定調査 ([\d,]+)人$", body) == (4,)
    assert numbers(r"^・由利本荘市 家屋被害認定調査 ([\d,]+)人$", body) == (3,)
    assert numbers(r"^本日8月1日分 登録済み: 受入 ([\d,]+)人（([\d,]+)件）$", body) == (13, 6)
    assert "■令和5年7月14日からの大雨（7月31日分は速報）" in body
    assert "派遣 7月31日" not in body  # 五城目町 has never sent anyone
    assert body_of(only(smtp_server, GOSHIN_SOMU)) == body

    akita = body_of(only(smtp_server, AKITA))
    assert numbers(r"^受入 7月31日 ([\d,]+)人／延べ([\d,]+)人$", akita) == (54, 407)
    assert numbers(r"^派遣 7月31日 ([\d,]+)人／延べ([\d,]+)人$", akita) == (0, 23)
    assert numbers(r"受入 ([\d,]+)人（([\d,]+)件）", akita) == (67, 12)

    pref = body_of(only(smtp_server, PREF))
    assert numbers(r"^派遣 7月31日 ([\d,]+)人／延べ([\d,]+)人$", pref) == (24, 208)
    assert numbers(r"^・秋田市 家屋被害認定調査 ([\d,]+)人$", pref) == (20,)
    assert numbers(r"^・五城目町 家屋被害認定調査 ([\d,]+)人$", pref) == (4,)

    kosaka = body_of(only(smtp_server, KOSAKA_MAIL))
    assert "7月31日の受入・派遣はありません。" in kosaka
    assert numbers(r"^本日8月1日分 登録済み: 派遣 ([\d,]+)人（([\d,]+)件）$", kosaka) == (1, 1)

    division = only(smtp_server, DIVISION)
    assert division["Subject"] == f"【応援職員派遣 日報】{DISASTER} 全体 {AS_OF}"
    whole = body_of(division)
    assert numbers(r"^延べ([\d,]+)人（7月31日 ([\d,]+)人）$", whole) == (596, 65)
    assert numbers(r"^・災害時の相互応援協定に基づく派遣 ([\d,]+)人（([\d,]+)人）$", whole) == (491, 65)
    assert numbers(r"^・応急給水業務に係る派遣 ([\d,]+)人（([\d,]+)人）$", whole) == (105, 0)
    assert numbers(r"^・秋田市 ([\d,]+)人（([\d,]+)人）$", whole) == (407, 54)
    assert numbers(r"^・五城目町 ([\d,]+)人（([\d,]+)人）$", whole) == (121, 11)
    assert numbers(r"^本日8月1日分 登録済み: ([\d,]+)人（([\d,]+)件）$", whole) == (80, 18)
    assert "7月31日付の日報: 送信失敗なし" in whole

    rows = deliveries(mail_app)
    assert set(rows) == EXPECTED
    assert {(d.status, d.attempts, d.claimed_by, d.digest_date) for d in rows.values()} == {
        ("sent", 1, "test", DIGEST_DATE)
    }
    assert rows[GOSHIN].subject == goshin["Subject"]
    assert all(d.sent_at is not None for d in rows.values())


def test_send_digests_twice_sends_each_once(
    mail_app: Flask, demo_recipients: None, smtp_server: SMTPServer
) -> None:
    runner = mail_app.test_cli_runner()
    first = runner.invoke(args=["send-digests", "--date", "2023-08-01"])
    assert first.exit_code == 0, first.output
    assert "digests 2023-08-01: sent=6 failed=0 skipped_taken=0 skipped_empty=1" in first.output

    second = runner.invoke(args=["send-digests", "--date", "2023-08-01"])
    assert second.exit_code == 0, second.output
    assert "digests 2023-08-01: sent=0 failed=0 skipped_taken=6 skipped_empty=1" in second.output
    assert "retries: sent=0 failed=0" in second.output

    assert sorted(smtp_server.recipients()) == sorted(EXPECTED)


def test_two_racing_runs_send_each_once(
    mail_app_with: Callable[..., Flask], demo_recipients: None, smtp_server: SMTPServer
) -> None:
    first, second = mail_app_with(), mail_app_with()
    results = at_once(
        in_context(first, send_due_digests, DIGEST_DATE, worker="worker-0"),
        in_context(second, send_due_digests, DIGEST_DATE, worker="worker-1"),
    )

    assert sum(r.sent for r in results) == 6
    assert sum(r.skipped_taken for r in results) == 6
    assert sorted(smtp_server.recipients()) == sorted(EXPECTED)
    assert {d.claimed_by for d in deliveries(first).values()} <= {"worker-0", "worker-1"}


def test_smtp_down_then_a_retry_delivers_each_missing_digest_once(
    mail_app: Flask, demo_recipients: None, smtp_server: SMTPServer, run: Callable[..., Any]
) -> None:
    smtp_server.stop()
    runner = mail_app.test_cli_runner()
    before = utcnow()
    down = runner.invoke(args=["send-digests", "--date", "2023-08-01"])

    assert down.exit_code == 1
    assert "digests 2023-08-01: sent=0 failed=6" in down.output
    assert "日報6件を送信できませんでした（後で再送します）。" in down.output
    assert "6 digest(s) could not be sent; they will be retried." in down.output
    assert f"SMTPサーバー 127.0.0.1:{smtp_server.port} に接続できません" in down.output
    rows = deliveries(mail_app)
    assert set(rows) == EXPECTED
    for delivery in rows.values():
        assert (delivery.status, delivery.attempts, delivery.sent_at) == ("failed", 1, None)
        assert (
            delivery.last_error
            == f"SMTPサーバー 127.0.0.1:{smtp_server.port} に接続できません（接続を拒否されました）"
        )
        assert delivery.next_attempt_at is not None
        assert before + timedelta(minutes=5) <= delivery.next_attempt_at <= utcnow() + timedelta(minutes=5)

    smtp_server.start()
    # Not due yet: the backoff holds.
    early = run(retry_failed, utcnow())
    assert (early.sent, early.failed) == (0, 0)
    assert smtp_server.messages == []

    later = utcnow() + timedelta(minutes=6)
    retried = run(retry_failed, later, worker="retrier")
    assert (retried.sent, retried.failed, retried.skipped_taken) == (6, 0, 0)
    assert sorted(smtp_server.recipients()) == sorted(EXPECTED)
    goshin = body_of(only(smtp_server, GOSHIN))
    assert numbers(r"^受入 7月31日 ([\d,]+)人／延べ([\d,]+)人$", goshin) == (11, 121)

    rows = deliveries(mail_app)
    assert {(d.status, d.attempts, d.claimed_by) for d in rows.values()} == {("sent", 2, "retrier")}
    # The error that was overcome stays on record.
    assert all("接続できません" in d.last_error for d in rows.values())

    again = run(retry_failed, later + timedelta(days=1))
    assert (again.sent, again.failed) == (0, 0)
    rerun = runner.invoke(args=["send-digests", "--date", "2023-08-01"])
    assert rerun.exit_code == 0, rerun.output
    assert len(smtp_server.messages) == len(EXPECTED)


def test_failed_sends_back_off_and_stop(
    smtp_server: SMTPServer, mail_app: Flask, run: Callable[..., Any]
) -> None:
    assert [backoff(n) for n in (1, 2, 3, 4)] == [
        timedelta(minutes=5),
        timedelta(minutes=15),
        timedelta(minutes=45),
        timedelta(minutes=135),
    ]
    with mail_app.app_context():
        seed_founding_case()
        add_recipient(GOJOME, GOSHIN)
        db.session.commit()
    smtp_server.stop()
    t0 = datetime(2026, 1, 5, 23, 0, tzinfo=UTC)

    first = run(send_due_digests, DIGEST_DATE, now=t0)
    assert first.failed == 1
    due = t0 + timedelta(minutes=5)
    assert deliveries(mail_app)[GOSHIN].next_attempt_at == due

    for attempts, wait in ((2, 15), (3, 45), (4, 135)):
        assert run(retry_failed, due - timedelta(seconds=1)).failed == 0  # not yet
        assert run(retry_failed, due).failed == 1
        delivery = deliveries(mail_app)[GOSHIN]
        assert (delivery.status, delivery.attempts) == ("failed", attempts)
        assert delivery.next_attempt_at == due + timedelta(minutes=wait)
        due = delivery.next_attempt_at

    assert run(retry_failed, due).failed == 1
    delivery = deliveries(mail_app)[GOSHIN]
    # MAIL_MAX_ATTEMPTS (5) reached: no further attempt, the error kept for the deliveries page.
    assert (delivery.status, delivery.attempts, delivery.next_attempt_at) == ("failed", 5, None)
    assert "接続できません" in delivery.last_error
    smtp_server.start()
    assert run(retry_failed, due + timedelta(days=1)).sent == 0
    assert smtp_server.messages == []


def test_a_crashed_senders_claim_is_retried_after_30_minutes(
    mail_app: Flask, smtp_server: SMTPServer, run: Callable[..., Any]
) -> None:
    now = utcnow()
    with mail_app.app_context():
        seed_founding_case()
        stuck = add_recipient(GOJOME, GOSHIN)
        busy = add_recipient(AKITA_CITY, AKITA)
        db.session.add_all(
            [
                Delivery(
                    digest_date=DIGEST_DATE,
                    recipient_id=stuck.id,
                    status=DeliveryStatus.SENDING,
                    claimed_at=now - timedelta(minutes=31),
                    claimed_by="crashed",
                ),
                Delivery(
                    digest_date=DIGEST_DATE,
                    recipient_id=busy.id,
                    status=DeliveryStatus.SENDING,
                    claimed_at=now - timedelta(minutes=5),
                    claimed_by="still working",
                ),
            ]
        )
        db.session.commit()

    result = run(retry_failed, now)
    assert (result.sent, result.failed) == (1, 0)
    assert smtp_server.recipients() == [GOSHIN]
    rows = deliveries(mail_app)
    assert (rows[GOSHIN].status, rows[GOSHIN].attempts) == ("sent", 2)
    assert (rows[AKITA].status, rows[AKITA].claimed_by) == ("sending", "still working")


def test_an_outcome_that_cannot_be_recorded_stops_the_run_one_digest_later(
    mail_app: Flask,
    demo_recipients: None,
    smtp_server: SMTPServer,
    run: Callable[..., Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The ledger commits each outcome on its thread while the next digest is sent; the next outcome waits
    # for it, so a write that fails stops the run there, one digest later than a run that waited.
    record = _Ledger._record
    attempted: list[int] = []

    def fails_first(ledger: Any, delivery_id: int, *args: Any) -> None:
        attempted.append(delivery_id)
        if len(attempted) == 1:
            raise RuntimeError("the database went away")
        record(ledger, delivery_id, *args)

    monkeypatch.setattr(_Ledger, "_record", fails_first)
    with pytest.raises(RuntimeError, match="the database went away"):
        run(send_due_digests, DIGEST_DATE)

    assert len(smtp_server.recipients()) == 2
    assert len(attempted) == 1
    rows = deliveries(mail_app)
    # All six were claimed together; none is marked sent, so a retry sends them once their claim is stale.
    assert len(rows) == 6
    assert {d.status for d in rows.values()} == {"sending"}


@pytest.mark.postgresql_only
def test_a_postgresql_ledger_records_each_outcome_in_one_round_trip(
    mail_app: Flask, demo_recipients: None, smtp_server: SMTPServer, run: Callable[..., Any]
) -> None:
    """Its connection bounds lock waits once for the session, so an outcome is one UPDATE in autocommit:
    no BEGIN, no SET LOCAL, no COMMIT of its own. The pool gets the connection back without the bound."""
    sent: list[str] = []
    with mail_app.app_context():
        event.listen(db.engine, "before_cursor_execute", lambda *args: sent.append(args[2]))
    assert run(send_due_digests, DIGEST_DATE).sent == 6
    updates = [sql for sql in sent if sql.startswith("UPDATE delivery")]
    assert len(updates) == 6
    assert not any("SET LOCAL" in sql for sql in sent)
    assert sum(sql.startswith("SET lock_timeout") for sql in sent) == 1
    assert sum(sql == "RESET lock_timeout" for sql in sent) == 1
    with mail_app.app_context():
        pool = db.engine.pool
        held = [db.engine.connect() for _ in range(pool.checkedin())]
        try:
            settings = {c.exec_driver_sql("SHOW lock_timeout").scalar() for c in held}
        finally:
            for conn in held:
                conn.close()
    assert held and settings == {"0"}


def test_two_racing_retriers_send_each_once(
    mail_app: Flask,
    mail_app_with: Callable[..., Flask],
    demo_recipients: None,
    smtp_server: SMTPServer,
    run: Callable[..., Any],
) -> None:
    smtp_server.stop()
    assert run(send_due_digests, DIGEST_DATE).failed == 6
    smtp_server.start()
    later = utcnow() + timedelta(minutes=6)

    results = at_once(*(in_context(mail_app_with(), retry_failed, later) for _ in range(2)))

    assert sum(r.sent for r in results) == 6
    assert sorted(smtp_server.recipients()) == sorted(EXPECTED)
    assert {(d.status, d.attempts) for d in deliveries(mail_app).values()} == {("sent", 2)}


def test_a_date_without_entries_goes_only_to_those_who_asked(
    mail_app: Flask, demo_recipients: None, smtp_server: SMTPServer, run: Callable[..., Any]
) -> None:
    with mail_app.app_context():
        add_recipient(OGA, "oga-daily@example.lg.jp", send_empty=True)
        db.session.commit()

    quiet = run(send_due_digests, date(2023, 12, 1))
    assert (quiet.sent, quiet.skipped_empty) == (1, 7)
    [message] = smtp_server.to("oga-daily@example.lg.jp")
    assert message["Subject"] == f"【応援職員派遣 日報】{DISASTER} 男鹿市 令和5年11月30日時点"
    body = body_of(message)
    assert numbers(r"^受入 11月30日 ([\d,]+)人／延べ([\d,]+)人$", body) == (0, 20)
    assert "11月30日の受入・派遣はありません。" in body
    assert smtp_server.recipients() == ["oga-daily@example.lg.jp"]

    # On 8/1 the address that asked gets one too, and the one that did not still gets nothing.
    busy = run(send_due_digests, DIGEST_DATE)
    assert busy.sent == 7
    assert OGA_MAIL not in smtp_server.recipients()


def test_dry_run_sends_and_claims_nothing(
    mail_app: Flask, demo_recipients: None, smtp_server: SMTPServer
) -> None:
    runner = mail_app.test_cli_runner()
    dry = runner.invoke(args=["send-digests", "--date", "2023-08-01", "--dry-run"])

    assert dry.exit_code == 0, dry.output
    assert f"{GOSHIN}\t【応援職員派遣 日報】{DISASTER} 五城目町 {AS_OF}" in dry.output
    assert f"{DIVISION}\t【応援職員派遣 日報】{DISASTER} 全体 {AS_OF}" in dry.output
    assert OGA_MAIL not in dry.output
    assert "dry run 2023-08-01: sent=0 failed=0 skipped_taken=0 skipped_empty=1 planned=6" in dry.output
    assert smtp_server.messages == []
    assert deliveries(mail_app) == {}

    # A dry run with the mail server down still works: it never connects.
    smtp_server.stop()
    assert runner.invoke(args=["send-digests", "--date", "2023-08-01", "--dry-run"]).exit_code == 0


def test_without_a_sender_address_nothing_is_claimed(
    mail_app: Flask, mail_app_with: Callable[..., Flask], demo_recipients: None, smtp_server: SMTPServer
) -> None:
    unset = mail_app_with(MAIL_FROM="")
    result = unset.test_cli_runner().invoke(args=["send-digests", "--date", "2023-08-01"])

    assert result.exit_code == 1
    assert "日報を送信できません。 / Cannot send digests: 送信元アドレスが設定されていません" in result.output
    assert deliveries(mail_app) == {}
    assert smtp_server.messages == []


def test_closed_day_changes_appear_in_the_next_digest(
    mail_app: Flask, demo_recipients: None, smtp_server: SMTPServer, run: Callable[..., Any]
) -> None:
    assert run(send_due_digests, DIGEST_DATE).sent == 6

    with mail_app.app_context():
        _correct_a_closed_day()

    assert run(send_due_digests, date(2023, 8, 2)).failed == 0
    [_, goshin] = smtp_server.to(GOSHIN)
    body = body_of(goshin)
    assert "■令和5年7月14日からの大雨（8月1日分は速報）" in body
    assert "確定済みの日の変更 1件（前回の日報以降）" in body
    assert "・令和5年7月31日 三種町→五城目町 家屋被害認定調査 3人（理由: 三種町から人数の訂正）" in body
    # 秋田市 has no part in the change; the division sees everything.
    [_, akita] = smtp_server.to(AKITA)
    assert "確定済みの日の変更" not in body_of(akita)
    [_, division] = smtp_server.to(DIVISION)
    assert "三種町から人数の訂正" in body_of(division)
    # The corrected figure is in: 五城目町 as of 8/1 is 121 + 1 (correction) + 13 (8/1) = 135.
    assert numbers(r"^受入 8月1日 ([\d,]+)人／延べ([\d,]+)人$", body) == (13, 135)

    # Said once: the digest after that no longer repeats it.
    assert run(send_due_digests, date(2023, 8, 3)).failed == 0
    assert "確定済みの日の変更" not in body_of(smtp_server.to(GOSHIN)[-1])


def test_a_closed_day_is_reported_as_final(
    mail_app: Flask, demo_recipients: None, smtp_server: SMTPServer, run: Callable[..., Any]
) -> None:
    with mail_app.app_context():
        close_day(_demo_disaster(), date(2023, 7, 31), factories.reviewer())
        db.session.commit()
    run(send_due_digests, DIGEST_DATE)
    assert "■令和5年7月14日からの大雨（7月31日分は確定）" in body_of(only(smtp_server, GOSHIN))
    assert "（7月31日分は確定）" in body_of(only(smtp_server, DIVISION))


def test_the_division_hears_of_yesterdays_failures(
    mail_app: Flask, demo_recipients: None, smtp_server: SMTPServer, run: Callable[..., Any]
) -> None:
    smtp_server.stop()
    assert run(send_due_digests, DIGEST_DATE).failed == 6
    smtp_server.start()

    assert run(send_due_digests, date(2023, 8, 2)).sent == 6
    body = body_of(only(smtp_server, DIVISION))
    error = f"SMTPサーバー 127.0.0.1:{smtp_server.port} に接続できません（接続を拒否されました）"
    assert "8月1日付の日報で送信できなかったもの 6件" in body
    assert f"・五城目町 {GOSHIN}: {error}" in body
    assert f"・秋田市 {AKITA}: {error}" in body
    assert f"・総合防災課 {DIVISION}: {error}" in body


def test_each_run_logs_its_counts(
    mail_app: Flask,
    demo_recipients: None,
    smtp_server: SMTPServer,
    run: Callable[..., Any],
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The migrations' logging.config.fileConfig (run once per session by the database template)
    # disables every logger that existed before it, this one included.
    monkeypatch.setattr(logging.getLogger("dispatch.digest"), "disabled", False)
    with caplog.at_level(logging.INFO, logger="dispatch.digest"):
        run(send_due_digests, DIGEST_DATE)
        run(retry_failed, utcnow())
    lines = [r.getMessage() for r in caplog.records if r.name == "dispatch.digest"]
    assert len(lines) == 2
    assert re.fullmatch(
        r"send-digests 2023-08-01: sent=6 failed=0 skipped_taken=0 skipped_empty=1 duration=\d+\.\d\ds",
        lines[0],
    )
    assert lines[1].startswith("retry-digests -: sent=0 failed=0")


# --- one run, many digests ------------------------------------------------------------------------------


def test_a_run_reads_the_same_statements_however_many_digests(
    mail_app: Flask, demo_recipients: None, smtp_server: SMTPServer, run: Callable[..., Any]
) -> None:
    def reads_of_a_run() -> tuple[int, int]:
        with mail_app.app_context(), statements_sent() as sent:
            planned = len(send_due_digests(DIGEST_DATE, dry_run=True).planned)
        selects = [statement for statement in sent if statement.lstrip().upper().startswith("SELECT")]
        return planned, len(selects)

    planned, reads = reads_of_a_run()
    assert planned == 6
    with mail_app.app_context():
        codes = db.session.scalars(select(Organisation.code).order_by(Organisation.code).limit(30)).all()
        for code in codes:
            add_recipient(code, f"daily-{code}@example.lg.jp", send_empty=True)
        db.session.commit()
    more, more_reads = reads_of_a_run()
    assert more == 6 + 30
    # The figures are read once for the run, not once for each addressee.
    assert more_reads == reads


def test_each_address_hears_of_changes_since_its_own_last_digest(
    mail_app: Flask, demo_recipients: None, smtp_server: SMTPServer, run: Callable[..., Any]
) -> None:
    with mail_app.app_context():
        before_change = utcnow()
        _correct_a_closed_day()
        after_change = utcnow()
        # 8/1's digests: GOSHIN's went out before the change, GOSHIN_SOMU's (sent again later) after it.
        for email, sent_at in ((GOSHIN, before_change), (GOSHIN_SOMU, after_change)):
            recipient = db.session.scalar(select(Recipient).where(Recipient.email == email))
            assert recipient is not None
            db.session.add(
                Delivery(
                    digest_date=DIGEST_DATE,
                    recipient_id=recipient.id,
                    status=DeliveryStatus.SENT,
                    claimed_at=sent_at,
                    sent_at=sent_at,
                )
            )
        db.session.commit()

    assert run(send_due_digests, date(2023, 8, 2)).failed == 0
    change = "・令和5年7月31日 三種町→五城目町 家屋被害認定調査 3人（理由: 三種町から人数の訂正）"
    assert change in body_of(only(smtp_server, GOSHIN))
    assert "確定済みの日の変更" not in body_of(only(smtp_server, GOSHIN_SOMU))
    # No digest sent before: the changes of the last day, the division's included.
    assert change in body_of(only(smtp_server, DIVISION))
    assert "確定済みの日の変更" not in body_of(only(smtp_server, AKITA))


def test_a_digest_claimed_after_the_run_looked_is_left_to_its_sender(
    mail_app: Flask,
    demo_recipients: None,
    smtp_server: SMTPServer,
    run: Callable[..., Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with mail_app.app_context():
        akita = db.session.scalar(select(Recipient).where(Recipient.email == AKITA))
        assert akita is not None
        db.session.add(
            Delivery(
                digest_date=DIGEST_DATE,
                recipient_id=akita.id,
                status=DeliveryStatus.SENDING,
                claimed_at=utcnow(),
                claimed_by="other",
            )
        )
        db.session.commit()
    # As if another sender claimed 秋田市's digest just after this run read the deliveries: the claims
    # of the batch collide with it, and each is then claimed on its own.
    monkeypatch.setattr("dispatch.delivery._taken", lambda digest_date: set())

    result = run(send_due_digests, DIGEST_DATE, worker="test")

    assert (result.sent, result.skipped_taken, result.skipped_empty) == (5, 1, 1)
    assert sorted(smtp_server.recipients()) == sorted(EXPECTED - {AKITA})
    rows = deliveries(mail_app)
    assert (rows[AKITA].status, rows[AKITA].claimed_by) == ("sending", "other")
    assert {d.claimed_by for email, d in rows.items() if email != AKITA} == {"test"}


def _correct_a_closed_day() -> None:
    """The reviewer closes 7/31 and then corrects 三種町 → 五城目町 that day from 2 persons to 3."""
    close_day(_demo_disaster(), date(2023, 7, 31), factories.reviewer("kato"))
    entry = db.session.scalar(
        select(Entry).where(
            Entry.date == date(2023, 7, 31),
            Entry.sender_id == _org("053481").id,  # 三種町 -> 五城目町, 2 a day
            Entry.destination_id == _org(GOJOME).id,
        )
    )
    assert entry is not None
    draft = EntryDraft(
        date=entry.date,
        operation=entry.operation,
        sender=entry.sender,
        destination=entry.destination,
        duty=entry.duty,
        headcount=3,
    )
    update_entry(entry, draft, factories.reviewer("kato"), reason="三種町から人数の訂正")
    db.session.commit()

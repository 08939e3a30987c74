"""dispatch.mail against a real SMTP server (aiosmtpd on 127.0.0.1, tests/smtp.py): messages, settings,
one connection per run, reconnecting once, and readable errors."""

from __future__ import annotations

import smtplib
import socket
from collections.abc import Iterator
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

import pytest
from flask import Flask

from dispatch.mail import MailConnection, MailError, MailSettings, build_message, compose, send_test_mail
from tests.conftest import MAIL_FROM
from tests.smtp import SMTPServer

SUBJECT = "【応援職員派遣 日報】令和5年7月14日からの大雨 五城目町 令和5年7月31日時点"
BODY = "令和5年7月31日時点\n受入 7月31日 11人／延べ121人\n"


@pytest.fixture
def mail_ctx(mail_app: Flask) -> Iterator[None]:
    with mail_app.app_context():
        yield


def _settings(**overrides: Any) -> dict[str, Any]:
    config: dict[str, Any] = {"MAIL_FROM": MAIL_FROM}
    config.update(overrides)
    return config


# --- messages -------------------------------------------------------------------------------------------


def test_build_message_is_plain_utf8_with_encoded_japanese_subject() -> None:
    message = build_message("goshin@example.lg.jp", SUBJECT, BODY, sender=MAIL_FROM)
    raw = message.as_bytes()

    # Seven-bit on the wire: the subject as RFC 2047 encoded words, the body base64.
    raw.decode("ascii")
    assert b"Subject: =?utf-8?" in raw
    assert not message.is_multipart()
    assert message.get_content_type() == "text/plain"
    assert message.get_content_charset() == "utf-8"
    assert message["Content-Transfer-Encoding"] == "base64"
    assert message["Message-ID"].endswith("@example.lg.jp>")
    assert message["Date"]

    parsed = message_from_bytes(raw, policy=policy.default)
    assert parsed["From"] == MAIL_FROM
    assert parsed["To"] == "goshin@example.lg.jp"
    assert parsed["Subject"] == SUBJECT
    assert parsed.get_content() == BODY  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "subject",
    [SUBJECT, "【応援職員派遣 日報】令和5年7月14日からの大雨ほか 由利本荘市 令和5年7月31日時点", "Daily"],
)
def test_compose_writes_the_bytes_email_message_writes(subject: str) -> None:
    # A run of digests writes its messages without EmailMessage (too slow for a thousand), byte for byte
    # the same but for the Date and the Message-ID, which are the message's own.
    outgoing = compose("goshin@example.lg.jp", subject, BODY, sender=MAIL_FROM)
    parsed = message_from_bytes(outgoing.data, policy=policy.default)

    expected = EmailMessage()
    expected["From"] = MAIL_FROM
    expected["To"] = "goshin@example.lg.jp"
    expected["Subject"] = subject
    expected["Date"] = parsed["Date"]
    expected["Message-ID"] = parsed["Message-ID"]
    expected.set_content(BODY, subtype="plain", charset="utf-8", cte="base64")
    assert outgoing.data == expected.as_bytes(policy=policy.default.clone(linesep="\r\n"))
    assert (outgoing.sender, outgoing.to) == (MAIL_FROM, "goshin@example.lg.jp")
    assert parsed["Subject"] == subject


def test_compose_with_a_named_sender() -> None:
    outgoing = compose("goshin@example.lg.jp", SUBJECT, BODY, sender=f"秋田県総合防災課 <{MAIL_FROM}>")
    assert outgoing.sender == MAIL_FROM
    outgoing.data.decode("ascii")
    [address] = message_from_bytes(outgoing.data, policy=policy.default)["From"].addresses
    assert (address.display_name, address.addr_spec) == ("秋田県総合防災課", MAIL_FROM)


@pytest.mark.parametrize(
    "to",
    [
        "two words@example.lg.jp",
        "五城目町@example.lg.jp",
        "no-at-sign",
        "a@example.lg.jp\r\nBcc: b@example.lg.jp",
    ],
)
def test_compose_refuses_an_address_it_cannot_write(to: str) -> None:
    with pytest.raises(MailError, match="送信できません"):
        compose(to, SUBJECT, BODY, sender=MAIL_FROM)


def test_build_message_needs_a_sender(app: Flask) -> None:
    with app.app_context(), pytest.raises(MailError, match="DISPATCH_MAIL_FROM"):
        build_message("goshin@example.lg.jp", SUBJECT, BODY)


# --- settings -------------------------------------------------------------------------------------------


def test_settings_accept_what_from_prefixed_env_produces() -> None:
    # DISPATCH_MAIL_PORT=587 arrives as the int 587, DISPATCH_MAIL_USE_STARTTLS=true as True; a value that
    # is not JSON ("yes") stays a string.
    as_json = MailSettings.from_config(_settings(MAIL_PORT=587, MAIL_USE_STARTTLS=True, MAIL_TIMEOUT=10))
    as_text = MailSettings.from_config(
        _settings(MAIL_PORT="587", MAIL_USE_STARTTLS="yes", MAIL_USE_SSL="false", MAIL_TIMEOUT="10")
    )
    assert as_json == as_text
    assert (as_text.port, as_text.use_starttls, as_text.use_ssl, as_text.timeout) == (587, True, False, 10.0)


def test_settings_defaults() -> None:
    settings = MailSettings.from_config(_settings())
    assert (settings.server, settings.port, settings.timeout) == ("127.0.0.1", 25, 30.0)
    assert not settings.use_ssl and not settings.use_starttls


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"MAIL_FROM": ""}, "DISPATCH_MAIL_FROM"),
        ({"MAIL_USE_SSL": True, "MAIL_USE_STARTTLS": True}, "同時に指定できません"),
        ({"MAIL_PORT": "smtp"}, "MAIL_PORT"),
        ({"MAIL_USE_SSL": "perhaps"}, "MAIL_USE_SSL"),
        ({"MAIL_TIMEOUT": 0}, "MAIL_TIMEOUT"),
    ],
)
def test_settings_refuse_what_cannot_work(overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(MailError, match=message):
        MailSettings.from_config(_settings(**overrides))


# --- sending --------------------------------------------------------------------------------------------


def test_one_connection_serves_a_run(mail_ctx: None, smtp_server: SMTPServer) -> None:
    with MailConnection() as connection:
        for n in range(3):
            connection.send(build_message(f"to{n}@example.lg.jp", SUBJECT, BODY))

    assert smtp_server.recipients() == ["to0@example.lg.jp", "to1@example.lg.jp", "to2@example.lg.jp"]
    assert len({m.peer for m in smtp_server.messages}) == 1
    assert {m.mail_from for m in smtp_server.messages} == {MAIL_FROM}
    received = smtp_server.to("to1@example.lg.jp")[0]
    assert received["Subject"] == SUBJECT
    assert received.get_content() == BODY


def test_nothing_connects_until_the_first_send(mail_ctx: None, smtp_server: SMTPServer) -> None:
    smtp_server.stop()
    with MailConnection():
        pass  # a run with nothing to send never needs the server


def test_reconnects_once_when_the_server_dropped_the_connection(
    mail_ctx: None, smtp_server: SMTPServer
) -> None:
    with MailConnection() as connection:
        connection.send(build_message("first@example.lg.jp", SUBJECT, BODY))
        smtp_server.stop()
        smtp_server.start()
        connection.send(build_message("second@example.lg.jp", SUBJECT, BODY))

    assert smtp_server.recipients() == ["first@example.lg.jp", "second@example.lg.jp"]
    assert len({m.peer for m in smtp_server.messages}) == 2


def test_server_down_is_a_readable_error_and_the_run_does_not_wait_again(
    mail_ctx: None, smtp_server: SMTPServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    smtp_server.stop()
    with MailConnection() as connection:
        with pytest.raises(MailError) as first:
            connection.send(build_message("a@example.lg.jp", SUBJECT, BODY))
        assert str(first.value) == (
            f"SMTPサーバー 127.0.0.1:{smtp_server.port} に接続できません（接続を拒否されました）"
        )

        attempts = []
        monkeypatch.setattr(smtplib.SMTP, "connect", lambda *a, **k: attempts.append(a))
        with pytest.raises(MailError, match="接続できません"):
            connection.send(build_message("b@example.lg.jp", SUBJECT, BODY))
        assert attempts == []


def test_a_refused_recipient_fails_alone(mail_ctx: None, smtp_server: SMTPServer) -> None:
    smtp_server.refuse.add("gone@example.lg.jp")
    with MailConnection() as connection:
        with pytest.raises(MailError, match=r"宛先が拒否されました: gone@example.lg.jp（550"):
            connection.send(build_message("gone@example.lg.jp", SUBJECT, BODY))
        connection.send(build_message("here@example.lg.jp", SUBJECT, BODY))

    assert smtp_server.recipients() == ["here@example.lg.jp"]


def test_a_silent_server_times_out() -> None:
    # Accepts the TCP connection (the kernel's backlog) and never says hello.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)
        port = silent.getsockname()[1]
        settings = MailSettings.from_config(_settings(MAIL_PORT=port, MAIL_TIMEOUT=0.3))
        with MailConnection(settings) as connection, pytest.raises(MailError) as failure:
            connection.send(build_message("a@example.lg.jp", SUBJECT, BODY, sender=MAIL_FROM))
    assert str(failure.value) == f"SMTPサーバー 127.0.0.1:{port} が応答しません（0.3秒でタイムアウト）"


def test_starttls_on_a_server_without_it(mail_ctx: None, smtp_server: SMTPServer) -> None:
    settings = MailSettings.from_config(
        _settings(MAIL_PORT=smtp_server.port, MAIL_USE_STARTTLS=True, MAIL_TIMEOUT=5)
    )
    with MailConnection(settings) as connection, pytest.raises(MailError, match="STARTTLS"):
        connection.send(build_message("a@example.lg.jp", SUBJECT, BODY))
    assert smtp_server.messages == []


def test_send_test_mail(mail_ctx: None, smtp_server: SMTPServer) -> None:
    send_test_mail("admin@example.lg.jp")

    [received] = smtp_server.to("admin@example.lg.jp")
    assert received["Subject"] == "【応援職員派遣】テストメール"
    assert "テストメールです" in received.get_content()
    assert f"127.0.0.1:{smtp_server.port}" in received.get_content()


def test_tests_cannot_send_mail_off_this_machine() -> None:
    with pytest.raises(pytest.fail.Exception, match="only use 127.0.0.1"):
        smtplib.SMTP("192.0.2.1", 25, timeout=1)
    with pytest.raises(pytest.fail.Exception, match="only use 127.0.0.1"):
        smtplib.SMTP_SSL("mail.example.lg.jp", 465, timeout=1)

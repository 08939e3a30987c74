"""The only module that talks SMTP: plain-text UTF-8 messages, one connection for a whole run.

Settings come from the app config (DISPATCH_MAIL_* in the environment). Flask's from_prefixed_env reads
JSON where it can, so a port arrives as 587 or "587" and a flag as true or "true": both are accepted.
Every failure surfaces as MailError, whose text says what went wrong in words an administrator can act
on; it is what the deliveries page shows and what a failed delivery keeps.
"""

from __future__ import annotations

import base64
import functools
import re
import smtplib
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from email import message_from_bytes, policy
from email.header import Header
from email.message import EmailMessage
from email.utils import format_datetime, formataddr, make_msgid, parseaddr
from types import TracebackType
from typing import Any
from zoneinfo import ZoneInfo

from flask import current_app

from .config import TIME_ZONE
from .models import utcnow

_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off", ""})
# An address compose() writes into a header and hands to the server as it is: ASCII, no spaces or brackets.
_ADDRESS = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]+@[A-Za-z0-9.-]+")
_CRLF = "\r\n"


class MailError(Exception):
    """A message could not be sent (or the settings cannot send any); str() is shown as it is."""


@dataclass(frozen=True)
class MailSettings:
    server: str
    port: int
    sender: str
    use_starttls: bool
    use_ssl: bool
    username: str
    password: str
    timeout: float

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> MailSettings:
        """Read and check the MAIL_* keys; MailError names the setting that is wrong."""
        settings = cls(
            server=str(config.get("MAIL_SERVER") or "127.0.0.1"),
            port=_as_int(config.get("MAIL_PORT", 25), "MAIL_PORT"),
            sender=str(config.get("MAIL_FROM") or "").strip(),
            use_starttls=_as_bool(config.get("MAIL_USE_STARTTLS", False), "MAIL_USE_STARTTLS"),
            use_ssl=_as_bool(config.get("MAIL_USE_SSL", False), "MAIL_USE_SSL"),
            username=str(config.get("MAIL_USERNAME") or ""),
            password=str(config.get("MAIL_PASSWORD") or ""),
            timeout=_as_seconds(config.get("MAIL_TIMEOUT", 30)),
        )
        if not settings.sender:
            raise MailError(
                "送信元アドレスが設定されていません（DISPATCH_MAIL_FROM）。"
                " / MAIL_FROM is not set: no mail can be sent."
            )
        if settings.use_ssl and settings.use_starttls:
            raise MailError(
                "MAIL_USE_SSL と MAIL_USE_STARTTLS は同時に指定できません。"
                " / MAIL_USE_SSL and MAIL_USE_STARTTLS exclude each other."
            )
        return settings

    @property
    def address(self) -> str:
        return f"{self.server}:{self.port}"


def _as_bool(value: object, key: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return value != 0
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise MailError(
        f"{key} の値「{value}」は true か false で指定してください。 / {key} must be true or false."
    )


def _as_int(value: object, key: str) -> int:
    try:
        return int(str(value).strip())
    except ValueError:
        raise MailError(
            f"{key} の値「{value}」は数値で指定してください。 / {key} must be a number."
        ) from None


def _as_seconds(value: object) -> float:
    try:
        seconds = float(str(value).strip())
    except ValueError:
        raise MailError(f"MAIL_TIMEOUT の値「{value}」は秒数で指定してください。") from None
    if seconds <= 0:
        raise MailError("MAIL_TIMEOUT は0より大きい秒数で指定してください。")
    return seconds


@dataclass(frozen=True)
class Outgoing:
    """A message ready for the wire: the envelope's sender and recipient, and the bytes."""

    sender: str
    to: str
    data: bytes


def compose(to: str, subject: str, body: str, *, sender: str) -> Outgoing:
    """A plain-text UTF-8 message, no attachments: gateways on LGWAN strip HTML and attachments.

    Seven-bit on the wire: the Japanese subject as RFC 2047 encoded words (folded), the body base64. The
    few headers are written here rather than through EmailMessage, whose header and content machinery
    costs more per message than sending it to a nearby server. For a digest the bytes are those
    EmailMessage writes under the default policy (tests/test_mail.py compares them); any subject and body
    read back as they were given.
    """
    from_header, address = _sender(sender)
    _check_address(to)
    headers = [
        f"From: {from_header}",
        f"To: {to}",
        f"Subject: {_subject(subject)}",
        f"Date: {format_datetime(utcnow().astimezone(ZoneInfo(TIME_ZONE)))}",
        f"Message-ID: {make_msgid(domain=address.rpartition('@')[2])}",
        'Content-Type: text/plain; charset="utf-8"',
        "Content-Transfer-Encoding: base64",
        "MIME-Version: 1.0",
    ]
    text = b"\n".join(body.encode("utf-8").splitlines()) + b"\n"
    payload = base64.encodebytes(text).replace(b"\n", b"\r\n")
    return Outgoing(address, to, (_CRLF.join(headers) + _CRLF + _CRLF).encode("ascii") + payload)


@functools.lru_cache(maxsize=8)
def _sender(sender: str) -> tuple[str, str]:
    """The From header and the envelope address of MAIL_FROM (an address, or a name and an address)."""
    name, address = parseaddr(sender)
    _check_address(address)
    return formataddr((name, address), charset="utf-8"), address


def _check_address(address: str) -> None:
    if not _ADDRESS.fullmatch(address):
        raise MailError(
            f"メールアドレス「{address}」には送信できません。 / Cannot send to or from {address!r}."
        )


# A header line holds 78 characters at most; "=?utf-8?b?" and "?=" take 12 of them around each encoded
# word, and base64 writes 4 characters for every 3 bytes: the UTF-8 bytes an encoded word can hold.
_FIRST_WORD = (78 - len("Subject: ") - 12) // 4 * 3
_NEXT_WORD = (78 - len(" ") - 12) // 4 * 3


def _subject(subject: str) -> str:
    """The subject as email.header writes it for the Subject header: as it is when ASCII, else UTF-8
    encoded words (base64), each holding as many whole characters as fit on its line."""
    if subject.isascii():
        return Header(subject, "us-ascii", header_name="Subject").encode(linesep=_CRLF)
    data = subject.encode("utf-8")
    words = []
    start, room = 0, _FIRST_WORD
    while start < len(data):
        end = min(start + room, len(data))
        while end < len(data) and 0x80 <= data[end] < 0xC0:  # not inside a character
            end -= 1
        words.append(f"=?utf-8?b?{base64.b64encode(data[start:end]).decode('ascii')}?=")
        start, room = end, _NEXT_WORD
    return (_CRLF + " ").join(words)


def build_message(to: str, subject: str, body: str, *, sender: str | None = None) -> EmailMessage:
    """The message compose() writes, read back as an EmailMessage; the sender defaults to MAIL_FROM."""
    if sender is None:
        sender = MailSettings.from_config(current_app.config).sender
    message = message_from_bytes(compose(to, subject, body, sender=sender).data, policy=policy.default)
    assert isinstance(message, EmailMessage)
    return message


class MailConnection:
    """One SMTP connection for a run: opened on the first send, reopened once if the server dropped it.

    When the server cannot be reached at all, the first send raises MailError and every later send in
    the same run raises the same error at once, instead of waiting for the timeout again per message.
    """

    def __init__(self, settings: MailSettings | None = None) -> None:
        self.settings = settings or MailSettings.from_config(current_app.config)
        self._smtp: smtplib.SMTP | None = None
        self._unreachable: MailError | None = None

    def __enter__(self) -> MailConnection:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def send(self, message: Outgoing | EmailMessage) -> None:
        if self._unreachable is not None:
            raise MailError(str(self._unreachable))
        reused = self._smtp is not None
        smtp = self._connected()
        try:
            _transmit(smtp, message)
            return
        except (smtplib.SMTPException, OSError) as exc:
            if not (reused and _connection_lost(exc)):
                self._after_failure(exc)
                raise MailError(self._describe(exc)) from exc
        # The server closed an idle connection (or restarted) mid-run: open a new one, once.
        self._discard()
        smtp = self._connected()
        try:
            _transmit(smtp, message)
        except (smtplib.SMTPException, OSError) as exc:
            self._after_failure(exc)
            raise MailError(self._describe(exc)) from exc

    def close(self) -> None:
        smtp, self._smtp = self._smtp, None
        if smtp is None:
            return
        try:
            smtp.quit()
        except (smtplib.SMTPException, OSError):
            smtp.close()

    def _connected(self) -> smtplib.SMTP:
        if self._smtp is not None:
            return self._smtp
        s = self.settings
        smtp: smtplib.SMTP | None = None
        try:
            if s.use_ssl:
                smtp = smtplib.SMTP_SSL(
                    s.server, s.port, timeout=s.timeout, context=ssl.create_default_context()
                )
            else:
                smtp = smtplib.SMTP(s.server, s.port, timeout=s.timeout)
            if s.use_starttls:
                smtp.starttls(context=ssl.create_default_context())
            if s.username:
                smtp.login(s.username, s.password)
        except (smtplib.SMTPException, OSError) as exc:
            if smtp is not None:
                smtp.close()
            self._unreachable = MailError(self._describe(exc))
            raise self._unreachable from exc
        self._smtp = smtp
        return smtp

    def _after_failure(self, exc: BaseException) -> None:
        # A refused recipient leaves the session usable (smtplib has reset it); anything else may not.
        if isinstance(exc, smtplib.SMTPRecipientsRefused | smtplib.SMTPSenderRefused | smtplib.SMTPDataError):
            return
        self._discard()

    def _discard(self) -> None:
        smtp, self._smtp = self._smtp, None
        if smtp is not None:
            smtp.close()

    def _describe(self, exc: BaseException) -> str:
        where = self.settings.address
        if _timed_out(exc):
            return f"SMTPサーバー {where} が応答しません（{self.settings.timeout:g}秒でタイムアウト）"
        return _smtp_failure(exc, where) or _network_failure(exc, where)


def _smtp_failure(exc: BaseException, where: str) -> str | None:
    """smtplib's own errors in words, most with the server's reply; None for any other error."""
    match exc:
        case smtplib.SMTPRecipientsRefused():
            refused = "、".join(
                f"{addr}（{_reply(code, text)}）" for addr, (code, text) in exc.recipients.items()
            )
            return f"宛先が拒否されました: {refused}"
        case smtplib.SMTPSenderRefused():
            return f"送信元 {exc.sender} が拒否されました（{_reply(exc.smtp_code, exc.smtp_error)}）"
        case smtplib.SMTPAuthenticationError():
            return f"SMTP認証に失敗しました（{where}）: {_reply(exc.smtp_code, exc.smtp_error)}"
        case smtplib.SMTPNotSupportedError():
            return f"SMTPサーバー {where} が対応していません: {exc}"
        case smtplib.SMTPServerDisconnected():
            return f"SMTPサーバー {where} との接続が切れました: {exc}"
        case smtplib.SMTPResponseException():
            return f"SMTPサーバー {where} がエラーを返しました: {_reply(exc.smtp_code, exc.smtp_error)}"
    return None


def _network_failure(exc: BaseException, where: str) -> str:
    """Errors below SMTP in words (smtplib's other errors are OSErrors too), and the last resort."""
    match exc:
        case ConnectionRefusedError():
            return f"SMTPサーバー {where} に接続できません（接続を拒否されました）"
        case ssl.SSLError():
            return f"SMTPサーバー {where} とのTLS接続に失敗しました: {exc}"
        case OSError():
            return f"SMTPサーバー {where} と通信できません: {exc}"
    return f"メールを送信できません（{where}）: {exc}"


def _transmit(smtp: smtplib.SMTP, message: Outgoing | EmailMessage) -> None:
    if isinstance(message, Outgoing):
        smtp.sendmail(message.sender, [message.to], message.data)
    else:
        smtp.send_message(message)


def _timed_out(exc: BaseException) -> bool:
    # smtplib reports a read that timed out as a disconnection caused by the TimeoutError.
    return isinstance(exc, TimeoutError) or isinstance(exc.__context__, TimeoutError)


def _connection_lost(exc: BaseException) -> bool:
    """The server went away (worth one new connection); a server that hangs is not retried."""
    if _timed_out(exc):
        return False
    if isinstance(exc, smtplib.SMTPServerDisconnected | ConnectionError):
        return True
    # 421: the server is closing the transmission channel.
    return isinstance(exc, smtplib.SMTPResponseException) and exc.smtp_code == 421


def _reply(code: int, text: bytes | str) -> str:
    shown = text.decode("utf-8", "replace") if isinstance(text, bytes) else str(text)
    return f"{code} {shown}".strip()


def send_test_mail(to: str) -> None:
    """One short message to check the settings from the admin page; raises MailError on failure."""
    settings = MailSettings.from_config(current_app.config)
    sent_at = utcnow().astimezone(ZoneInfo(TIME_ZONE))
    body = (
        "応援職員派遣トラッカーからのテストメールです。\n"
        "このメールが届いていれば、日報の送信設定は有効です。\n"
        f"\n送信日時: {sent_at:%Y-%m-%d %H:%M}\n"
        f"SMTPサーバー: {settings.address}\n"
    )
    message = compose(to, "【応援職員派遣】テストメール", body, sender=settings.sender)
    with MailConnection(settings) as connection:
        connection.send(message)

"""A real SMTP server for tests: aiosmtpd on 127.0.0.1, on a free port, keeping every message it accepts.

The server can be stopped and started again on the same port, so a test can take the mail server down in
the middle of a run and bring it back for the retry.
"""

from __future__ import annotations

import socket
import threading
from dataclasses import dataclass
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller

HOST = "127.0.0.1"


def free_port() -> int:
    """A port nothing listens on now: bind to port 0, read the port the kernel chose, let it go."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


@dataclass(frozen=True)
class Received:
    """One accepted message as it crossed the wire, and which client connection carried it."""

    mail_from: str
    rcpt_tos: tuple[str, ...]
    data: bytes
    peer: tuple[str, int]

    def parsed(self) -> EmailMessage:
        message = message_from_bytes(self.data, policy=policy.default)
        assert isinstance(message, EmailMessage)
        return message


class _Handler:
    def __init__(self, server: SMTPServer) -> None:
        self._server = server

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: list[str]
    ) -> str:
        if address in self._server.refuse:
            return "550 5.1.1 mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        peer = session.peer if isinstance(session.peer, tuple) else (str(session.peer), 0)
        self._server.add(
            Received(
                mail_from=envelope.mail_from,
                rcpt_tos=tuple(envelope.rcpt_tos),
                data=envelope.original_content or envelope.content,
                peer=(str(peer[0]), int(peer[1])),
            )
        )
        return "250 Message accepted for delivery"


class SMTPServer:
    """Start with start(), stop with stop(); `messages` keeps what was accepted across restarts."""

    def __init__(self) -> None:
        self.host = HOST
        self.port = free_port()
        self.refuse: set[str] = set()
        self._messages: list[Received] = []
        self._lock = threading.Lock()
        self._controller: Controller | None = None

    def add(self, received: Received) -> None:
        with self._lock:
            self._messages.append(received)

    @property
    def messages(self) -> list[Received]:
        with self._lock:
            return list(self._messages)

    def recipients(self) -> list[str]:
        """Every envelope recipient of every accepted message, in order (one address per digest)."""
        return [address for message in self.messages for address in message.rcpt_tos]

    def to(self, address: str) -> list[EmailMessage]:
        return [m.parsed() for m in self.messages if address in m.rcpt_tos]

    @property
    def running(self) -> bool:
        return self._controller is not None

    def start(self) -> None:
        if self._controller is not None:
            return
        controller = Controller(_Handler(self), hostname=self.host, port=self.port)
        controller.start()
        self._controller = controller

    def stop(self) -> None:
        if self._controller is None:
            return
        self._controller.stop()
        self._controller = None

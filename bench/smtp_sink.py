"""A local SMTP server for the digest measurement: aiosmtpd on 127.0.0.1, in a process of its own.

`python -m bench.smtp_sink --port PORT --out FILE` accepts every message, appends it to FILE as one JSON line
(envelope and the bytes as sent, base64) before answering 250, prints `ready` once listening, and stops when
its standard input closes. The recorded messages are what the smtplib floor sends again.
"""

from __future__ import annotations

import argparse
import base64
import json
import sys
from typing import IO, Any

from aiosmtpd.controller import Controller

HOST = "127.0.0.1"


class _Recorder:
    def __init__(self, out: IO[str]) -> None:
        self._out = out

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        data = envelope.original_content or envelope.content
        record = {
            "from": envelope.mail_from,
            "to": list(envelope.rcpt_tos),
            "data": base64.b64encode(data).decode("ascii"),
        }
        self._out.write(json.dumps(record) + "\n")
        self._out.flush()
        return "250 Message accepted for delivery"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.smtp_sink")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    with open(args.out, "a", encoding="ascii") as out:
        controller = Controller(_Recorder(out), hostname=HOST, port=args.port)
        controller.start()
        try:
            sys.stdout.write("ready\n")
            sys.stdout.flush()
            sys.stdin.read()
        finally:
            controller.stop()


if __name__ == "__main__":
    main()

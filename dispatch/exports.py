"""Spreadsheet-safe CSV: UTF-8 with BOM by default (Japanese Excel reads anything else as CP932), CP932 on
request, and every cell that Excel would take for a formula neutralised."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator, Sequence
from urllib.parse import quote

from flask import Response, stream_with_context

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
ENCODINGS = {"utf-8": "utf-8", "cp932": "cp932"}


class Unencodable(ValueError):
    """Cells that CP932 cannot hold, named so the user can fix or choose UTF-8."""

    def __init__(self, samples: list[str]) -> None:
        super().__init__("Shift_JIS（CP932）で表せない文字があります: " + "、".join(samples))
        self.samples = samples


def neutralise(value: object) -> str:
    """A cell as text that Excel shows as typed, never runs: a leading ' before = + - @ tab CR."""
    text = "" if value is None else str(value)
    if text.startswith(FORMULA_PREFIXES):
        return "'" + text
    return text


def csv_lines(header: Sequence[str], rows: Iterable[Sequence[object]]) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(header)
    yield buffer.getvalue()
    for row in rows:
        buffer.seek(0)
        buffer.truncate()
        writer.writerow([neutralise(v) for v in row])
        yield buffer.getvalue()


def check_cp932(lines: Iterable[str]) -> None:
    """Raise Unencodable naming the characters CP932 cannot hold (read before streaming a CP932 file)."""
    bad: list[str] = []
    for line in lines:
        for char in line:
            try:
                char.encode("cp932")
            except UnicodeEncodeError:
                if char not in bad:
                    bad.append(char)
    if bad:
        raise Unencodable(bad[:20])


def csv_response(
    filename: str, header: Sequence[str], rows: Iterable[Sequence[object]], encoding: str = "utf-8"
) -> Response:
    """Stream a CSV download; memory stays flat however many rows."""
    codec = ENCODINGS[encoding]

    def body() -> Iterator[bytes]:
        if codec == "utf-8":
            yield b"\xef\xbb\xbf"
        for line in csv_lines(header, rows):
            yield line.encode(codec)

    response = Response(stream_with_context(body()), mimetype="text/csv")
    response.headers["Content-Type"] = f"text/csv; charset={'shift_jis' if codec == 'cp932' else 'utf-8'}"
    response.headers["Content-Disposition"] = (
        f"attachment; filename=\"export.csv\"; filename*=UTF-8''{quote(filename)}"
    )
    return response

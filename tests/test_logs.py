"""The request log: one key=value line per request, quoted where a value needs it, readable back by shlex."""

from __future__ import annotations

import logging
import shlex
from pathlib import Path

import pytest
from flask import Flask, Response
from flask.testing import FlaskClient

from dispatch import access
from dispatch.logs import logfmt_value

STATIC = Path(__file__).resolve().parent.parent / "dispatch" / "static"


@pytest.fixture
def request_log(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.INFO, logger="dispatch.request")
    return caplog


def lines(caplog: pytest.LogCaptureFixture) -> list[dict[str, str]]:
    """Each request record read back as a shell would split it: key=value words, quotes removed."""
    return [
        dict(word.split("=", 1) for word in shlex.split(record.getMessage()))
        for record in caplog.records
        if record.name == "dispatch.request"
    ]


def test_one_request_is_one_line(client: FlaskClient, request_log: pytest.LogCaptureFixture) -> None:
    response = client.get("/")
    assert response.status_code == 200
    [line] = lines(request_log)
    assert list(line) == ["remote", "method", "path", "status", "bytes", "duration_ms", "user"]
    assert line["remote"] == "127.0.0.1"
    assert line["method"] == "GET"
    assert line["path"] == "/"
    assert line["status"] == "200"
    assert line["bytes"] == str(len(response.data))
    assert float(line["duration_ms"]) >= 0
    assert line["user"] == "hq-user"


def test_a_request_the_access_table_turns_away_is_logged(
    anonymous: FlaskClient, request_log: pytest.LogCaptureFixture
) -> None:
    assert anonymous.get("/").status_code == 302
    [line] = lines(request_log)
    assert (line["path"], line["status"], line["user"]) == ("/", "302", "-")


def test_a_path_with_a_space_a_quote_and_japanese_is_quoted(
    anonymous: FlaskClient, request_log: pytest.LogCaptureFixture
) -> None:
    assert anonymous.get('/no such/"避難所"?q=a=b').status_code == 404
    [record] = [r for r in request_log.records if r.name == "dispatch.request"]
    assert ' path="/no such/\\"避難所\\"?q=a=b" ' in record.getMessage()
    [line] = lines(request_log)
    assert line["path"] == '/no such/"避難所"?q=a=b'
    assert line["status"] == "404"


def test_a_streamed_body_is_logged_once_sent_with_its_bytes(
    app: Flask, client: FlaskClient, request_log: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(access.PERMISSIONS, "stream", access.EVERYONE)
    app.add_url_rule("/stream", "stream", lambda: Response(iter([b"abc", "日本"])))
    with client.get("/stream") as response:
        assert response.data == "abc日本".encode()
        assert lines(request_log) == []
    # The server closes the response once the body is sent; the line is written then.
    [line] = lines(request_log)
    assert (line["status"], line["bytes"]) == ("200", "9")


def test_a_static_file_is_logged_with_its_size(
    client: FlaskClient, request_log: pytest.LogCaptureFixture
) -> None:
    with client.get("/static/app.css") as response:
        assert response.status_code == 200
    [line] = lines(request_log)
    assert line["bytes"] == str((STATIC / "app.css").stat().st_size)


@pytest.mark.parametrize("value", ["GET", "/entries/2023-07-14", "200", "12.5", "-", "hq-user"])
def test_plain_values_are_bare(value: str) -> None:
    assert logfmt_value(value) == value


@pytest.mark.parametrize(
    ("value", "written"),
    [
        ("", '""'),
        ("a b", '"a b"'),
        ("a=b", '"a=b"'),
        ('say "hi"', '"say \\"hi\\""'),
        ("C:\\temp", '"C:\\\\temp"'),
        ("秋田県", '"秋田県"'),
    ],
)
def test_values_that_need_quotes_are_quoted_and_read_back(value: str, written: str) -> None:
    assert logfmt_value(value) == written
    assert shlex.split(written) == [value]


def test_a_control_character_cannot_start_a_second_line() -> None:
    assert logfmt_value("/a\nlevel=ERROR\x07") == '"/a\\nlevel=ERROR\\u0007"'

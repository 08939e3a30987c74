"""JSON responses written by orjson (json_out.py) say what Flask's own provider said, byte for byte where
only the spelling of Japanese differs."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, date, datetime

from flask import Flask, jsonify
from flask.json.provider import DefaultJSONProvider
from flask.testing import FlaskClient
from markupsafe import Markup

from dispatch.json_out import OrjsonProvider
from tests.reading import BASE


@dataclass
class _Pair:
    code: str
    days: int


VALUES = {
    "text": "横手市",
    "b": 2,
    "a": [1, 2.5, None, True],
    "day": date(2023, 7, 20),
    "moment": datetime(2023, 7, 20, 9, 30, tzinfo=UTC),
    "markup": Markup("<b>1</b>"),
    "pair": _Pair("052035", 105),
}


def test_the_app_writes_json_with_orjson(app: Flask) -> None:
    assert isinstance(app.json, OrjsonProvider)


def test_a_response_is_what_flasks_provider_wrote_with_japanese_as_utf8(app: Flask) -> None:
    with app.test_request_context():
        body = jsonify(VALUES).get_data()
    assert (
        body
        == (
            '{"a":[1,2.5,null,true],"b":2,"day":"Thu, 20 Jul 2023 00:00:00 GMT","markup":"<b>1</b>",'
            '"moment":"Thu, 20 Jul 2023 09:30:00 GMT","pair":{"code":"052035","days":105},"text":"横手市"}\n'
        ).encode()
    )
    flask_own = DefaultJSONProvider(app)
    assert json.loads(body) == json.loads(flask_own.dumps(VALUES))


def test_debug_mode_indents_as_flask_did(app: Flask) -> None:
    app.debug = True
    with app.test_request_context():
        body = jsonify({"b": 1, "a": "秋田"}).get_data(as_text=True)
    assert body == '{\n  "a": "秋田",\n  "b": 1\n}\n'


def test_dumps_with_a_callers_arguments_keeps_pythons_json(app: Flask) -> None:
    assert app.json.dumps({"b": 1, "a": 2}, indent=1) == '{\n "a": 2,\n "b": 1\n}'
    assert app.json.dumps({"b": 1, "a": "湯沢"}) == '{"a":"湯沢","b":1}'


def test_totals_json_is_utf8_and_parses_to_the_founding_case(client: FlaskClient, demo: None) -> None:
    response = client.get(f"{BASE}/totals.json?as_of=2023-08-31&by=operation")
    assert response.status_code == 200
    assert response.content_type == "application/json"
    assert "災害時の相互応援協定に基づく派遣".encode() in response.data
    rows = {row["key"]: row["person_days"] for row in response.get_json()["rows"]}
    assert rows["mutual-aid"] == 2101

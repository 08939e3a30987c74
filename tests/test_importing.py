"""Importing a spreadsheet of dispatches: CSV in every encoding Excel writes, .xlsx, all rows or none."""

from __future__ import annotations

import hashlib
import io
from datetime import date, datetime, time, timedelta
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskCliRunner
from openpyxl import Workbook
from sqlalchemy import func, select

from dispatch import entries, import_writing, importing, tally_check
from dispatch.audit import AuditFilter, audit_select
from dispatch.catalog import create_operation
from dispatch.closing import close_day
from dispatch.errors import ImportRefused
from dispatch.extensions import db
from dispatch.importing import UNSUPPORTED_FORMAT, ImportResult, RowError, import_dispatches
from dispatch.models import Disaster, Entry, Operation, Organisation
from tests import factories
from tests.factories import AKITA_CITY, AKITA_PREF, GOJOME, NOSHIRO, hq

OPERATION_NAME = "災害時の相互応援協定に基づく派遣"
JA_HEADER = "日付,派遣区分,派遣元,所属,派遣先,業務,人数,備考"
EN_HEADER = "date,operation,sender,sender_unit,destination,duty,headcount,note"

# Three rows, 3 + 2 + 5 = 10 person-days, in the shapes an office types them.
JA_ROWS = [
    f"令和5年7月20日,{OPERATION_NAME},秋田県,総務部総合防災課,五城目町,給水業務,3,初日",
    f"2023/7/21,{OPERATION_NAME},秋田市,,五城目町,家屋被害認定調査,２,",
    f"２０２３－０７－２２,{OPERATION_NAME},能代市,,秋田市,給水業務,5人,",
]


@pytest.fixture
def disaster(ctx: None) -> Disaster:
    return factories.disaster()


@pytest.fixture
def operation(disaster: Disaster) -> Operation:
    return create_operation(disaster, "mutual-aid", OPERATION_NAME, hq())


def csv_bytes(lines: list[str], encoding: str = "utf-8") -> bytes:
    # Excel writes CRLF; the importer must not care.
    return ("\r\n".join(lines) + "\r\n").encode(encoding)


def entry_count() -> int:
    return db.session.scalar(select(func.count()).select_from(Entry)) or 0


def refused(disaster: Disaster, data: bytes, filename: str = "dispatches.csv") -> list[RowError]:
    before = entry_count()
    with pytest.raises(ImportRefused) as caught:
        import_dispatches(disaster, data, filename, actor=hq())
    assert entry_count() == before
    return caught.value.errors


def written(result: ImportResult) -> list[Entry]:
    return [db.session.get_one(Entry, entry_id) for entry_id in result.entry_ids]


def stored() -> list[tuple[date, str, str, str, str, int, str]]:
    entries = db.session.scalars(select(Entry).order_by(Entry.date, Entry.id))
    return [
        (e.date, e.sender.code, e.sender_unit, e.destination.code, e.duty.code, e.headcount, e.note)
        for e in entries
    ]


EXPECTED_JA = [
    (date(2023, 7, 20), AKITA_PREF, "総務部総合防災課", GOJOME, "water_supply", 3, "初日"),
    (date(2023, 7, 21), AKITA_CITY, "", GOJOME, "damage_survey", 2, ""),
    (date(2023, 7, 22), NOSHIRO, "", AKITA_CITY, "water_supply", 5, ""),
]


# --- files that import ---------------------------------------------------------------------------


def test_cp932_csv_with_japanese_headers_and_names(disaster: Disaster, operation: Operation) -> None:
    data = csv_bytes([JA_HEADER, *JA_ROWS], "cp932")
    with pytest.raises(UnicodeDecodeError):
        data.decode("utf-8")

    result = import_dispatches(disaster, data, "派遣実績.csv", actor=hq("tester"))

    assert len(result.entry_ids) == 3
    assert result.person_days == 10
    assert stored() == EXPECTED_JA
    assert {e.created_by for e in written(result)} == {"tester"}
    assert {e.operation_id for e in written(result)} == {operation.id}


def test_utf8_with_bom(disaster: Disaster, operation: Operation) -> None:
    data = b"\xef\xbb\xbf" + csv_bytes([JA_HEADER, *JA_ROWS])

    result = import_dispatches(disaster, data, "dispatches.CSV", actor=hq())

    assert (len(result.entry_ids), result.person_days) == (3, 10)
    assert stored() == EXPECTED_JA


def test_utf8_without_bom(disaster: Disaster, operation: Operation) -> None:
    result = import_dispatches(disaster, csv_bytes([JA_HEADER, *JA_ROWS]), "dispatches.csv", actor=hq())

    assert (len(result.entry_ids), result.person_days) == (3, 10)
    assert stored() == EXPECTED_JA


def test_explicit_encodings(disaster: Disaster, operation: Operation) -> None:
    result = import_dispatches(
        disaster, csv_bytes([JA_HEADER, JA_ROWS[0]], "cp932"), "a.csv", encoding="cp932", actor=hq()
    )
    assert (len(result.entry_ids), result.person_days) == (1, 3)
    result = import_dispatches(
        disaster, b"\xef\xbb\xbf" + csv_bytes([JA_HEADER, JA_ROWS[1]]), "b.csv", encoding="utf-8", actor=hq()
    )
    assert (len(result.entry_ids), result.person_days) == (1, 2)


def test_english_headers_with_codes(disaster: Disaster, operation: Operation) -> None:
    lines = [
        # Headers in any case, with spaces around them.
        " Date , OPERATION,sender,sender_unit,destination,duty,headcount,note",
        f"2023-07-20,mutual-aid,{AKITA_PREF},,{GOJOME},water_supply,4,",
        # Full-width digits in a code, and a code whose leading zero Excel dropped.
        f"2023-07-20,mutual-aid,０５２０１９,,{GOJOME.lstrip('0')},damage_survey,1,",
    ]

    result = import_dispatches(disaster, csv_bytes(lines), "codes.csv", actor=hq())

    assert (len(result.entry_ids), result.person_days) == (2, 5)
    assert stored() == [
        (date(2023, 7, 20), AKITA_PREF, "", GOJOME, "water_supply", 4, ""),
        (date(2023, 7, 20), AKITA_CITY, "", GOJOME, "damage_survey", 1, ""),
    ]


def test_kana_prefixes_and_codes_without_check_digit(disaster: Disaster, operation: Operation) -> None:
    # The importer finds what the entry form finds (dispatch/lookup.py): tests/test_lookup.py has each rule.
    lines = [
        EN_HEADER,
        "2023-07-20,災害時の相互応援,あきたけん,,05361,給水,4,",
        "2023-07-20,mutual-aid,ノシロシ,,五城目,家屋被害,1,",
    ]

    result = import_dispatches(disaster, csv_bytes(lines), "typed.csv", actor=hq())

    assert result.person_days == 5
    assert stored() == [
        (date(2023, 7, 20), AKITA_PREF, "", GOJOME, "water_supply", 4, ""),
        (date(2023, 7, 20), NOSHIRO, "", GOJOME, "damage_survey", 1, ""),
    ]


def test_columns_in_any_order_and_optional_columns_absent(disaster: Disaster, operation: Operation) -> None:
    lines = ["人数,業務,派遣先,派遣元,派遣区分,日付", f"7,給水業務,五城目町,秋田県,{OPERATION_NAME},R5.7.25"]

    result = import_dispatches(disaster, csv_bytes(lines), "short.csv", actor=hq())

    assert (len(result.entry_ids), result.person_days) == (1, 7)
    assert stored() == [(date(2023, 7, 25), AKITA_PREF, "", GOJOME, "water_supply", 7, "")]


def test_wareki_slash_and_full_width_dates(disaster: Disaster, operation: Operation) -> None:
    dates = ["令和5年7月20日", "2023/7/21", "２０２３/７/２２", "令和５年７月２３日", "R5.7.24", "2023-07-25"]
    lines = [EN_HEADER] + [f"{d},mutual-aid,{AKITA_PREF},,{GOJOME},water_supply,1," for d in dates]

    result = import_dispatches(disaster, csv_bytes(lines), "dates.csv", actor=hq())

    assert sorted(e.date for e in written(result)) == [date(2023, 7, day) for day in range(20, 26)]
    assert result.person_days == 6


def test_blank_rows_are_skipped(disaster: Disaster, operation: Operation) -> None:
    lines = [JA_HEADER, JA_ROWS[0], "", ",,,,,,,", " , ,", JA_ROWS[1]]

    result = import_dispatches(disaster, csv_bytes(lines), "gaps.csv", actor=hq())

    assert (len(result.entry_ids), result.person_days) == (2, 5)


def test_export_apostrophes_are_removed(disaster: Disaster, operation: Operation) -> None:
    # Exports put ' before a cell Excel would run as a formula; the import reads the value back.
    lines = [
        EN_HEADER,
        f"2023-07-20,mutual-aid,{AKITA_PREF},'-,{GOJOME},water_supply,'+2,'=1+1",
        f"2023-07-21,mutual-aid,{AKITA_PREF},,{GOJOME},water_supply,1,'quoted",
    ]

    result = import_dispatches(disaster, csv_bytes(lines), "export.csv", actor=hq())

    assert result.person_days == 3
    assert stored() == [
        (date(2023, 7, 20), AKITA_PREF, "-", GOJOME, "water_supply", 2, "=1+1"),
        (date(2023, 7, 21), AKITA_PREF, "", GOJOME, "water_supply", 1, "'quoted"),
    ]


def test_quoted_cells_with_commas_and_line_breaks(disaster: Disaster, operation: Operation) -> None:
    # A tab and a backslash too: on PostgreSQL the rows go in by COPY, whose text format escapes both.
    lines = [
        EN_HEADER,
        f'2023-07-20,mutual-aid,{AKITA_PREF},,{GOJOME},water_supply,1,"午前, 午後\n交代あり\t班\\N"',
    ]

    result = import_dispatches(disaster, csv_bytes(lines), "quoted.csv", actor=hq())

    assert [e.note for e in written(result)] == ["午前, 午後\n交代あり\t班\\N"]


def xlsx_bytes(rows: list[list[object]]) -> bytes:
    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


def excel_datetime(day: date, at: time = time(0)) -> datetime:
    """A date-formatted Excel cell reads back as a datetime with no time zone."""
    return datetime.combine(day, at)


XLSX_HEADER: list[object] = ["日付", "派遣区分", "派遣元", "所属", "派遣先", "業務", "人数", "備考"]


def test_xlsx_with_date_cells(disaster: Disaster, operation: Operation) -> None:
    data = xlsx_bytes(
        [
            XLSX_HEADER,
            [date(2023, 7, 20), OPERATION_NAME, "秋田県", "総務部", "五城目町", "給水業務", 3, None],
            [
                excel_datetime(date(2023, 7, 21)),
                "mutual-aid",
                52019,
                None,
                "五城目町",
                "給水業務",
                2.0,
                "夜間",
            ],
            ["令和5年7月22日", OPERATION_NAME, "能代市", None, "秋田市", "給水業務", "4人", None],
        ]
    )

    result = import_dispatches(disaster, data, "派遣実績.XLSX", actor=hq())

    assert (len(result.entry_ids), result.person_days) == (3, 9)
    assert stored() == [
        (date(2023, 7, 20), AKITA_PREF, "総務部", GOJOME, "water_supply", 3, ""),
        (date(2023, 7, 21), AKITA_CITY, "", GOJOME, "water_supply", 2, "夜間"),
        (date(2023, 7, 22), NOSHIRO, "", AKITA_CITY, "water_supply", 4, ""),
    ]


def test_xlsx_errors_use_excel_row_numbers(disaster: Disaster, operation: Operation) -> None:
    good = [date(2023, 7, 20), OPERATION_NAME, "秋田県", None, "五城目町", "給水業務", 1, None]
    data = xlsx_bytes(
        [
            XLSX_HEADER,
            good,
            [None] * 8,
            [
                excel_datetime(date(2023, 7, 21), time(9, 30)),
                OPERATION_NAME,
                "秋田県",
                None,
                "五城目町",
                "給水業務",
                1,
            ],
            [date(2023, 7, 22), OPERATION_NAME, "秋田県", None, "五城目町", "給水業務", 1.5],
            [date(2023, 7, 23), OPERATION_NAME, "秋田県", None, "五城目町", "給水業務", True],
        ]
    )

    errors = refused(disaster, data, "bad.xlsx")

    assert [(e.line, e.message) for e in errors] == [
        (4, "日付「2023-07-21 09:30:00」に時刻が入っています。日付だけにしてください"),
        (5, "人数「1.5」が整数ではありません"),
        (6, "人数「True」が数値ではありません"),
    ]


# --- long files -------------------------------------------------------------------------------------

UNITS = 40


def long_file(rows: int) -> list[str]:
    """A header and `rows` distinct rows: UNITS units of 秋田県 to 五城目町 a day, from the disaster's start,
    with headcounts 1, 2, 3, 1, 2, 3, ..."""
    start = date(2023, 7, 14)
    return [EN_HEADER] + [
        f"{start + timedelta(days=n // UNITS)},mutual-aid,{AKITA_PREF},班{n % UNITS},{GOJOME},water_supply,"
        f"{1 + n % 3},"
        for n in range(rows)
    ]


@pytest.fixture
def small_batches(monkeypatch: pytest.MonkeyPatch) -> None:
    """Batches of a few rows, so that a file of a few hundred crosses many of them."""
    monkeypatch.setattr(entries, "WRITE_BATCH", 64)
    monkeypatch.setattr(entries, "LOOKUP_BATCH", 3)
    monkeypatch.setattr(import_writing, "CHUNK", 64)


def test_a_long_file_has_one_audit_record_naming_every_entrys_line_and_its_tally(
    disaster: Disaster, operation: Operation, small_batches: None
) -> None:
    # 500 rows of 1, 2, 3, ... persons: 167 ones, 167 twos and 166 threes; a blank line after line 101.
    lines = long_file(500)
    lines.insert(101, ",,,,,,,")
    data = csv_bytes(lines)
    result = import_dispatches(disaster, data, "long.csv", actor=hq("importer"), reason="7月分")

    assert (len(result.entry_ids), result.person_days) == (500, 999)
    assert entry_count() == 500
    assert list(db.session.scalars(audit_select(AuditFilter(object_type="entry")))) == []
    [record] = db.session.scalars(audit_select(AuditFilter(object_type="import")))
    assert (record.action, record.actor, record.disaster_id, record.reason) == (
        "import",
        "importer",
        disaster.id,
        "7月分",
    )
    assert record.summary == "ファイル「long.csv」の2〜502行目 500件（延べ999人）"
    after = record.after or {}
    assert (after["file"], after["sha256"], after["rows"], after["person_days"]) == (
        "long.csv",
        hashlib.sha256(data).hexdigest(),
        500,
        999,
    )
    # Line 1 is the header, lines 2-101 the first hundred rows, 102 blank, 103-502 the other four hundred.
    assert after["lines"] == [[2, 100], [103, 400]]
    first, last = result.entry_ids[0], result.entry_ids[-1]
    assert [
        import_writing.imported_from(disaster.id, i).line for i in (first, first + 99, first + 100, last)
    ] == [  # type: ignore[union-attr]
        2,
        101,
        103,
        502,
    ]
    assert import_writing.imported_from(disaster.id, last + 1) is None
    assert tally_check.check(disaster.id) == []


def test_rows_of_a_long_file_are_named_by_line(
    disaster: Disaster, operation: Operation, small_batches: None
) -> None:
    lines = long_file(600)
    # Line 550 holds the 549th row: 2023-07-14 + 548 // 40 days, unit 548 % 40.
    factories.entry(date(2023, 7, 27), 2, sender_unit="班28")
    lines.append(lines[1])

    errors = refused(disaster, csv_bytes(lines))

    assert errors == [
        RowError(
            550,
            f"登録済みの派遣と重複しています（令和5年7月27日 {OPERATION_NAME} 秋田県（班28）→五城目町 給水業務）",
        ),
        RowError(602, "2行目と同じ派遣が重複しています"),
    ]


def test_a_writer_racing_the_import_refuses_it_whole(
    disaster: Disaster, operation: Operation, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Another writer commits the row after the importer looked for it, and before it writes.
    factories.entry(date(2023, 7, 22), 1, sender=NOSHIRO, destination=AKITA_CITY)
    db.session.commit()
    monkeypatch.setattr(importing, "entry_ids", lambda keys: {})

    with pytest.raises(ImportRefused) as caught:
        import_dispatches(disaster, csv_bytes([JA_HEADER, *JA_ROWS]), "race.csv", actor=hq())

    assert caught.value.errors == [RowError(0, "登録済みの派遣と重複します（同時に登録されました）。")]
    db.session.rollback()
    assert entry_count() == 1


def test_rows_on_a_closed_day_need_a_reviewer_and_a_reason(disaster: Disaster, operation: Operation) -> None:
    close_day(disaster, date(2023, 7, 21), factories.reviewer())
    data = csv_bytes([JA_HEADER, *JA_ROWS])

    # The row of 7月21日 is line 3 of the file.
    assert refused(disaster, data) == [
        RowError(3, "令和5年7月21日は締め済み（確定）です。変更は総合防災課に依頼してください。")
    ]
    with pytest.raises(ImportRefused) as caught:
        import_dispatches(disaster, data, "late.csv", actor=factories.reviewer())
    assert caught.value.errors == [
        RowError(3, "令和5年7月21日は締め済み（確定）です。変更する理由を入力してください。")
    ]
    result = import_dispatches(disaster, data, "late.csv", actor=factories.reviewer(), reason="報告漏れ")

    # The closed day's row has its own record, flagged for the digests; the import's record names all three.
    [record] = db.session.scalars(audit_select(AuditFilter(object_type="entry")))
    assert (db.session.get_one(Entry, record.object_id).date, record.closed_day_change, record.reason) == (
        date(2023, 7, 21),
        True,
        "報告漏れ",
    )
    [whole] = db.session.scalars(audit_select(AuditFilter(object_type="import")))
    assert (whole.reason, whole.closed_day_change, (whole.after or {})["rows"]) == ("報告漏れ", False, 3)
    assert len(result.entry_ids) == 3


# --- files that are refused ------------------------------------------------------------------------

GOOD_ROW = f"2023-07-20,{OPERATION_NAME},秋田県,,五城目町,給水業務,2,"


@pytest.mark.parametrize(
    ("bad_row", "message"),
    [
        (
            f"2023-07-21,{OPERATION_NAME},東京市,,五城目町,給水業務,2,",
            "派遣元「東京市」が見つかりません（団体コードまたは名称）",
        ),
        (
            f"2023-07-21,{OPERATION_NAME},秋田県,,大阪町,給水業務,2,",
            "派遣先「大阪町」が見つかりません（団体コードまたは名称）",
        ),
        (
            f"2023-07-21,{OPERATION_NAME},秋田県,,五城目町,草むしり,2,",
            "業務「草むしり」が見つかりません（業務コードまたは名称）",
        ),
        (
            "2023-07-21,別の派遣,秋田県,,五城目町,給水業務,2,",
            "派遣区分「別の派遣」はこの災害に登録されていません",
        ),
        (
            f"2023-02-30,{OPERATION_NAME},秋田県,,五城目町,給水業務,2,",
            "日付: 日付として読めません: 2023-02-30",
        ),
        (f"7/21,{OPERATION_NAME},秋田県,,五城目町,給水業務,2,", "日付: 年を付けてください: 7/21"),
        (f",{OPERATION_NAME},秋田県,,五城目町,給水業務,2,", "日付が入力されていません"),
        (f"2023-07-21,{OPERATION_NAME},秋田県,,五城目町,給水業務,0,", "人数は1以上で入力してください。"),
        (f"2023-07-21,{OPERATION_NAME},秋田県,,五城目町,給水業務,abc,", "人数「abc」が数値ではありません"),
        (f"2023-07-21,{OPERATION_NAME},秋田県,,秋田県,給水業務,2,", "派遣元と派遣先が同じです。"),
        (
            f"2023-07-13,{OPERATION_NAME},秋田県,,五城目町,給水業務,2,",
            "災害の発生日（令和5年7月14日）より前の日付です。",
        ),
        (
            f"2023-07-21,{OPERATION_NAME},秋田県,{'課' * 101},五城目町,給水業務,2,",
            "所属は100文字以内で入力してください。",
        ),
        (GOOD_ROW.replace(",2,", ",5,"), "2行目と同じ派遣が重複しています"),
        (
            f"2023-07-14,{OPERATION_NAME},秋田県,,五城目町,給水業務,2,",
            f"登録済みの派遣と重複しています（令和5年7月14日 {OPERATION_NAME} 秋田県→五城目町 給水業務）",
        ),
        (
            f"2023-07-21,{OPERATION_NAME},秋田県,,五城目町,給水業務,2,,余分",
            "見出しのない列に値があります: 「余分」",
        ),
    ],
)
def test_one_bad_row_refuses_the_file(
    disaster: Disaster, operation: Operation, bad_row: str, message: str
) -> None:
    factories.entry(date(2023, 7, 14), 4, op=operation)
    lines = [JA_HEADER, GOOD_ROW, bad_row, GOOD_ROW.replace("2023-07-20", "2023-07-22")]

    errors = refused(disaster, csv_bytes(lines, "cp932"))

    assert errors == [RowError(3, message)]
    assert entry_count() == 1


def test_every_error_is_reported_sorted_by_line(disaster: Disaster, operation: Operation) -> None:
    lines = [
        JA_HEADER,
        GOOD_ROW,
        f"2023-07-99,{OPERATION_NAME},東京市,,五城目町,給水業務,0,",
        GOOD_ROW,
        "",
        f"2023-07-21,{OPERATION_NAME},秋田県,,秋田県,給水業務,1,",
    ]

    errors = refused(disaster, csv_bytes(lines))

    assert [e.describe() for e in errors] == [
        "3行目: 日付: 日付として読めません: 2023-07-99",
        "3行目: 派遣元「東京市」が見つかりません（団体コードまたは名称）",
        "4行目: 2行目と同じ派遣が重複しています",
        "6行目: 派遣元と派遣先が同じです。",
    ]
    assert entry_count() == 0


def test_a_name_two_organisations_share_needs_the_code(disaster: Disaster, operation: Operation) -> None:
    db.session.add(Organisation(code="X0001", kind="other", name="秋田市"))
    db.session.flush()
    lines = [
        EN_HEADER,
        f"2023-07-20,mutual-aid,秋田市,,{GOJOME},water_supply,1,",
        f"2023-07-20,mutual-aid,X0001,,{GOJOME},water_supply,1,",
        f"2023-07-20,mutual-aid,{AKITA_CITY} 秋田市,,{GOJOME},water_supply,1,",
    ]

    errors = refused(disaster, csv_bytes(lines))

    assert errors == [
        RowError(
            2,
            "派遣元「秋田市」に当たる団体が複数あります: 秋田市（052019）、秋田市（X0001）。"
            "コードで入力してください。",
        )
    ]


def test_headcount_beyond_what_the_database_holds(disaster: Disaster, operation: Operation) -> None:
    lines = [EN_HEADER, f"2023-07-20,mutual-aid,{AKITA_PREF},,{GOJOME},water_supply,2147483648,"]

    assert refused(disaster, csv_bytes(lines)) == [RowError(2, "人数「2147483648」が大きすぎます")]


def test_the_refusal_message_lists_the_first_errors(disaster: Disaster, operation: Operation) -> None:
    lines = [EN_HEADER] + [
        f"2023-07-{day},mutual-aid,{AKITA_PREF},,{GOJOME},water_supply,0," for day in range(14, 26)
    ]

    with pytest.raises(ImportRefused) as caught:
        import_dispatches(disaster, csv_bytes(lines), "zeros.csv", actor=hq())

    assert len(caught.value.errors) == 12
    message = str(caught.value).splitlines()
    assert message[0] == "取り込めません（12件のエラー）"
    assert message[1] == "2行目: 人数は1以上で入力してください。"
    assert message[-1] == "ほか2件"


def test_an_operation_of_another_disaster_is_unknown(disaster: Disaster, operation: Operation) -> None:
    other = factories.disaster("other-quake", date(2024, 1, 1))
    create_operation(other, "quake-aid", "地震の派遣", hq())
    lines = [EN_HEADER, f"2024-01-02,quake-aid,{AKITA_PREF},,{GOJOME},water_supply,1,"]

    errors = refused(disaster, csv_bytes(lines))

    assert errors == [RowError(2, "派遣区分「quake-aid」はこの災害に登録されていません")]


@pytest.mark.parametrize(
    ("header", "message"),
    [
        ("日付,派遣区分,派遣元,所属,派遣先,業務,備考", "必須の列「人数」（headcount）がありません"),
        (f"{JA_HEADER},天気", "不明な列「天気」があります"),
        (f"{JA_HEADER},headcount", "列「人数」が重複しています"),
    ],
)
def test_header_problems_are_on_line_1(
    disaster: Disaster, operation: Operation, header: str, message: str
) -> None:
    errors = refused(disaster, csv_bytes([header, GOOD_ROW]))

    assert errors == [RowError(1, message)]


def test_unsupported_file_type(disaster: Disaster, operation: Operation) -> None:
    errors = refused(disaster, csv_bytes([JA_HEADER, GOOD_ROW]), "dispatches.txt")

    assert errors == [RowError(0, UNSUPPORTED_FORMAT)]
    assert errors[0].describe() == "0行目: 対応していないファイル形式です（.csv または .xlsx）"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "ファイルが空です"),
        (b"\r\n\r\n", "ファイルが空です"),
        (csv_bytes([JA_HEADER, ",,,,,,,"]), "取り込む行がありません（見出し行だけです）"),
    ],
)
def test_a_file_without_rows_is_refused(
    disaster: Disaster, operation: Operation, data: bytes, message: str
) -> None:
    assert refused(disaster, data) == [RowError(0, message)]


def test_forced_encoding_that_does_not_fit(disaster: Disaster, operation: Operation) -> None:
    data = csv_bytes([JA_HEADER, GOOD_ROW], "cp932")

    with pytest.raises(ImportRefused) as caught:
        import_dispatches(disaster, data, "sjis.csv", encoding="utf-8", actor=hq())

    assert caught.value.errors == [RowError(1, "文字コード UTF-8 として読めない文字があります")]
    assert entry_count() == 0


def test_bytes_in_no_supported_encoding(disaster: Disaster, operation: Operation) -> None:
    data = csv_bytes([EN_HEADER]) + b"2023-07-20,\x82\xff\r\n"

    assert refused(disaster, data) == [
        RowError(2, "文字コードを判別できません（UTF-8 としても CP932 としても読めません）")
    ]


def test_utf16_and_unknown_encodings_are_named(disaster: Disaster, operation: Operation) -> None:
    utf16 = "\r\n".join([JA_HEADER, GOOD_ROW]).encode("utf-16")
    assert refused(disaster, utf16) == [
        RowError(0, "UTF-16 のファイルには対応していません。CSV（UTF-8 または CP932）で保存してください")
    ]
    with pytest.raises(ImportRefused) as caught:
        import_dispatches(disaster, csv_bytes([JA_HEADER, GOOD_ROW]), "a.csv", encoding="latin-1", actor=hq())
    assert caught.value.errors == [RowError(0, "対応していない文字コードです: latin-1（auto、utf-8、cp932）")]


def test_not_really_an_xlsx(disaster: Disaster, operation: Operation) -> None:
    assert refused(disaster, b"not a zip", "fake.xlsx") == [
        RowError(0, "Excel ファイル（.xlsx）として読めません")
    ]


# --- the command ------------------------------------------------------------------------------------


@pytest.fixture
def cli_disaster(app: Flask) -> str:
    """A committed disaster with one operation, for the CLI, which opens its own session."""
    with app.app_context():
        d = factories.disaster()
        create_operation(d, "mutual-aid", OPERATION_NAME, hq())
        db.session.commit()
        return d.slug


def committed_entries(app: Flask) -> int:
    with app.app_context():
        return entry_count()


def test_cli_refuses_a_file_with_one_bad_row(
    app: Flask, runner: FlaskCliRunner, cli_disaster: str, tmp_path: Path
) -> None:
    path = tmp_path / "派遣.csv"
    path.write_bytes(
        csv_bytes(
            [
                JA_HEADER,
                *JA_ROWS,
                f"2023-07-23,{OPERATION_NAME},秋田県,,五城目町,給水業務,abc,",
                GOOD_ROW.replace("2023-07-20", "2023-07-24"),
            ],
            "cp932",
        )
    )

    result = runner.invoke(args=["import-dispatches", cli_disaster, str(path)])

    assert result.exit_code == 1
    assert "派遣.csv:5行目: 人数「abc」が数値ではありません" in result.output
    assert "1件のエラー。何も登録していません。" in result.output
    assert committed_entries(app) == 0


def test_cli_imports_a_good_file(
    app: Flask, runner: FlaskCliRunner, cli_disaster: str, tmp_path: Path
) -> None:
    path = tmp_path / "dispatches.csv"
    path.write_bytes(csv_bytes([JA_HEADER, *JA_ROWS], "cp932"))

    result = runner.invoke(args=["import-dispatches", cli_disaster, str(path)])

    assert result.exit_code == 0, result.output
    assert "imported 3 rows, 10 person-days" in result.output
    assert committed_entries(app) == 3

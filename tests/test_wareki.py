from datetime import date

import pytest

from dispatch.wareki import (
    WarekiError,
    era_year,
    fiscal_year,
    format_fiscal_year,
    format_long,
    format_period,
    format_series,
    format_short,
    format_with_weekday,
    parse_date,
    parse_range,
)


@pytest.mark.parametrize(
    ("d", "expected"),
    [
        (date(2023, 7, 20), "令和5年7月20日"),
        (date(2019, 5, 1), "令和元年5月1日"),
        (date(2019, 4, 30), "平成31年4月30日"),
        (date(2020, 1, 1), "令和2年1月1日"),
        (date(1989, 1, 8), "平成元年1月8日"),
        (date(1989, 1, 7), "昭和64年1月7日"),
        (date(1926, 12, 25), "昭和元年12月25日"),
    ],
)
def test_format_long(d: date, expected: str) -> None:
    assert format_long(d) == expected


def test_format_long_refuses_dates_before_showa() -> None:
    with pytest.raises(ValueError, match="昭和より前の日付は扱えません: 1926年12月24日"):
        format_long(date(1926, 12, 24))


def test_era_year() -> None:
    assert era_year(date(2023, 7, 20)) == "令和5年"
    assert era_year(date(2019, 5, 1)) == "令和元年"
    assert era_year(date(2019, 4, 30)) == "平成31年"


def test_format_short() -> None:
    assert format_short(date(2023, 7, 20)) == "7月20日"
    assert format_short(date(2023, 10, 2)) == "10月2日"


def test_format_with_weekday() -> None:
    assert format_with_weekday(date(2023, 7, 20)) == "令和5年7月20日（木）"
    assert format_with_weekday(date(2023, 10, 2)) == "令和5年10月2日（月）"
    assert format_with_weekday(date(2019, 5, 1)) == "令和元年5月1日（水）"


def test_format_series_drops_repeated_era_year() -> None:
    dates = [date(2023, 7, 20), date(2023, 8, 22), date(2023, 8, 31)]
    assert format_series(dates) == ["令和5年7月20日", "8月22日", "8月31日"]


def test_format_series_writes_year_again_when_it_changes() -> None:
    dates = (d for d in [date(2023, 12, 1), date(2024, 1, 31), date(2024, 2, 1)])
    assert format_series(dates) == ["令和5年12月1日", "令和6年1月31日", "2月1日"]


def test_format_series_compares_with_previous_date_not_first() -> None:
    dates = [date(2023, 12, 1), date(2024, 1, 5), date(2023, 12, 28)]
    assert format_series(dates) == ["令和5年12月1日", "令和6年1月5日", "令和5年12月28日"]


def test_format_series_across_era_change() -> None:
    dates = [date(2019, 4, 30), date(2019, 5, 1), date(2019, 5, 2)]
    assert format_series(dates) == ["平成31年4月30日", "令和元年5月1日", "5月2日"]


def test_format_series_empty() -> None:
    assert format_series([]) == []


@pytest.mark.parametrize(
    ("start", "end", "expected"),
    [
        (date(2023, 7, 20), date(2023, 8, 31), "令和5年7月20日から8月31日まで"),
        (date(2023, 8, 12), date(2023, 9, 29), "令和5年8月12日から9月29日まで"),
        (date(2023, 7, 16), date(2023, 7, 26), "令和5年7月16日から26日まで"),
        (date(2023, 10, 2), None, "令和5年10月2日から（継続中）"),
        (date(2023, 12, 1), date(2024, 1, 31), "令和5年12月1日から令和6年1月31日まで"),
        (date(2019, 4, 1), date(2019, 5, 31), "平成31年4月1日から令和元年5月31日まで"),
        (date(2023, 7, 20), date(2023, 7, 20), "令和5年7月20日"),
        (date(1989, 1, 1), date(1989, 1, 31), "昭和64年1月1日から平成元年1月31日まで"),
    ],
)
def test_format_period(start: date, end: date | None, expected: str) -> None:
    assert format_period(start, end) == expected


def test_format_period_refuses_end_before_start() -> None:
    with pytest.raises(WarekiError, match="終了日が開始日より前です"):
        format_period(date(2023, 8, 31), date(2023, 7, 20))


@pytest.mark.parametrize(
    ("d", "expected"),
    [
        (date(2024, 3, 31), 2023),
        (date(2024, 4, 1), 2024),
        (date(2023, 1, 1), 2022),
        (date(2023, 12, 31), 2023),
    ],
)
def test_fiscal_year(d: date, expected: int) -> None:
    assert fiscal_year(d) == expected


@pytest.mark.parametrize(
    ("d", "expected"),
    [
        (date(2023, 7, 20), "令和5年度"),
        (date(2024, 3, 31), "令和5年度"),
        (date(2024, 4, 1), "令和6年度"),
        (date(2019, 3, 31), "平成30年度"),
        (date(2019, 4, 1), "令和元年度"),
        (date(2020, 3, 31), "令和元年度"),
        (date(1989, 1, 7), "昭和63年度"),
        (date(1989, 3, 31), "昭和63年度"),
        (date(1989, 4, 1), "平成元年度"),
    ],
)
def test_format_fiscal_year(d: date, expected: str) -> None:
    assert format_fiscal_year(d) == expected


def test_format_fiscal_year_refuses_dates_before_showa() -> None:
    with pytest.raises(WarekiError):
        format_fiscal_year(date(1926, 12, 24))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2023-07-20", date(2023, 7, 20)),
        ("2023/7/20", date(2023, 7, 20)),
        ("2023.7.20", date(2023, 7, 20)),
        ("2023年7月20日", date(2023, 7, 20)),
        ("令和5年7月20日", date(2023, 7, 20)),
        ("令和元年5月1日", date(2019, 5, 1)),
        ("令和1年5月1日", date(2019, 5, 1)),
        ("平成31年4月30日", date(2019, 4, 30)),
        ("平成元年1月8日", date(1989, 1, 8)),
        ("昭和64年1月7日", date(1989, 1, 7)),
        ("R5.7.20", date(2023, 7, 20)),
        ("R5/7/20", date(2023, 7, 20)),
        ("r05.07.20", date(2023, 7, 20)),
        ("H31.4.30", date(2019, 4, 30)),
        ("h1.1.8", date(1989, 1, 8)),
        ("S64.1.7", date(1989, 1, 7)),
        ("R元.5.1", date(2019, 5, 1)),
        ("令和５年７月２０日", date(2023, 7, 20)),
        ("２０２３／７／２０", date(2023, 7, 20)),
        ("Ｒ５．７．２０", date(2023, 7, 20)),
        ("㋿5年7月20日", date(2023, 7, 20)),
        ("  令和5年 7月 20日　", date(2023, 7, 20)),
        ("2023-07-20 00:00:00", date(2023, 7, 20)),
        ("2023-07-20T00:00:00", date(2023, 7, 20)),
        ("令和5年7月20日（木）", date(2023, 7, 20)),
    ],
)
def test_parse_date(text: str, expected: date) -> None:
    assert parse_date(text) == expected


def test_parse_date_reads_its_own_output() -> None:
    assert parse_date(format_with_weekday(date(2019, 5, 1))) == date(2019, 5, 1)


def test_parse_date_without_year_uses_default_year() -> None:
    assert parse_date("7月20日", default_year=2023) == date(2023, 7, 20)
    assert parse_date("7/20", default_year=2023) == date(2023, 7, 20)
    assert parse_date("７月２０日", default_year=2024) == date(2024, 7, 20)


def test_parse_date_default_year_does_not_override_written_year() -> None:
    assert parse_date("令和5年7月20日", default_year=2030) == date(2023, 7, 20)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "日付が入力されていません"),
        ("　 ", "日付が入力されていません"),
        ("2023-13-01", "日付として読めません: 2023-13-01"),
        ("2023-02-30", "日付として読めません: 2023-02-30"),
        ("令和5年2月29日", "日付として読めません: 令和5年2月29日"),
        ("2023/07-20", "日付として読めません: 2023/07-20"),
        ("きのう", "日付として読めません: きのう"),
        ("2023-07-20 09:30:00", "日付として読めません: 2023-07-20 09:30:00"),
        ("X5.7.20", "日付として読めません: X5.7.20"),
        ("令和1年4月30日", "令和は2019年5月1日からです"),
        ("令和0年12月1日", "令和は2019年5月1日からです"),
        ("平成31年5月1日", "平成は2019年4月30日までです"),
        ("平成元年1月7日", "平成は1989年1月8日からです"),
        ("昭和64年1月8日", "昭和は1989年1月7日までです"),
        ("7月20日", "年を付けてください: 7月20日"),
        ("7/20", "年を付けてください: 7/20"),
        ("令和5年7月20日（金）", "2023年7月20日は木曜日です"),
    ],
)
def test_parse_date_rejects(text: str, message: str) -> None:
    with pytest.raises(WarekiError) as caught:
        parse_date(text)
    assert str(caught.value) == message


def test_wareki_error_is_a_value_error() -> None:
    with pytest.raises(ValueError):
        parse_date("2023-02-30")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2023-07-20〜2023-08-31", (date(2023, 7, 20), date(2023, 8, 31))),
        ("2023-07-20～2023-08-31", (date(2023, 7, 20), date(2023, 8, 31))),
        ("2023-07-20~2023-08-31", (date(2023, 7, 20), date(2023, 8, 31))),
        ("2023/7/20 〜 2023/8/31", (date(2023, 7, 20), date(2023, 8, 31))),
        ("令和5年7月20日から8月31日まで", (date(2023, 7, 20), date(2023, 8, 31))),
        ("令和5年8月12日から9月29日まで", (date(2023, 8, 12), date(2023, 9, 29))),
        ("令和5年7月16日から26日まで", (date(2023, 7, 16), date(2023, 7, 26))),
        ("令和５年７月２０日～８月３１日", (date(2023, 7, 20), date(2023, 8, 31))),
        ("令和5年12月1日から令和6年1月31日まで", (date(2023, 12, 1), date(2024, 1, 31))),
        ("R5.7.20〜R5.7.20", (date(2023, 7, 20), date(2023, 7, 20))),
    ],
)
def test_parse_range(text: str, expected: tuple[date, date]) -> None:
    assert parse_range(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "期間が入力されていません"),
        ("2023-08-31〜2023-07-20", "終了日が開始日より前です: 2023-08-31〜2023-07-20"),
        (
            "令和5年12月1日から1月31日まで",
            "終了日が開始日より前です: 令和5年12月1日から1月31日まで",
        ),
        ("令和5年10月2日から（継続中）", "終了日がありません: 令和5年10月2日から（継続中）"),
        ("令和5年10月2日から", "終了日がありません: 令和5年10月2日から"),
        ("2023-07-20", "期間として読めません: 2023-07-20"),
        (
            "2023-07-20〜2023-08-01〜2023-08-31",
            "期間として読めません: 2023-07-20〜2023-08-01〜2023-08-31",
        ),
        ("2023-07-20〜2023-13-01", "日付として読めません: 2023-13-01"),
        ("令和5年7月20日から15日まで", "終了日が開始日より前です: 令和5年7月20日から15日まで"),
        ("令和5年2月1日から30日まで", "日付として読めません: 30日"),
    ],
)
def test_parse_range_rejects(text: str, message: str) -> None:
    with pytest.raises(WarekiError) as caught:
        parse_range(text)
    assert str(caught.value) == message

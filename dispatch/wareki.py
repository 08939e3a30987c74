"""Japanese era (和暦) dates, both ways.

Prefectural reports, council papers and the morning digest write dates in the
Japanese era (令和5年7月20日), drop the year when it repeats (…から8月31日まで)
and count fiscal years from April (令和5年度). Staff type dates in every shape
a Japanese office produces: full-width digits, era letters (R5.7.20), Excel
cells (2023-07-20 00:00:00). This module is the one place that knows those
conventions, so views, reports, digests and imports agree on them and no other
module needs to know when an era began.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

__all__ = [
    "WarekiError",
    "era_year",
    "fiscal_year",
    "format_fiscal_year",
    "format_long",
    "format_period",
    "format_series",
    "format_short",
    "format_with_weekday",
    "parse_date",
    "parse_range",
]


class WarekiError(ValueError):
    """A date that cannot be read or written in the Japanese era.

    str() is a short Japanese message meant to be shown to the user as is.
    """


@dataclass(frozen=True)
class _Era:
    name: str
    letter: str
    start: date
    end: date | None


# Newest first: the first era that started on or before a date is its era.
# Older eras are out of scope: nobody dispatched under this tracker before 1926.
_ERAS: tuple[_Era, ...] = (
    _Era("令和", "R", date(2019, 5, 1), None),
    _Era("平成", "H", date(1989, 1, 8), date(2019, 4, 30)),
    _Era("昭和", "S", date(1926, 12, 25), date(1989, 1, 7)),
)

_WEEKDAYS = "月火水木金土日"


def _era_of(d: date) -> _Era:
    for era in _ERAS:
        if d >= era.start:
            return era
    raise WarekiError(f"昭和より前の日付は扱えません: {_western(d)}")


def _western(d: date) -> str:
    return f"{d.year}年{d.month}月{d.day}日"


def _year_label(era: _Era, year: int) -> str:
    number = year - era.start.year + 1
    return f"{era.name}{'元' if number == 1 else number}年"


def era_year(d: date) -> str:
    """The era and year of ``d``: 令和5年, or 令和元年 for the first year."""
    return _year_label(_era_of(d), d.year)


def format_short(d: date) -> str:
    """Month and day only (7月20日), for a date whose year the reader already has."""
    return f"{d.month}月{d.day}日"


def format_long(d: date) -> str:
    """The full form: 令和5年7月20日. Dates before 昭和 raise WarekiError."""
    return era_year(d) + format_short(d)


def format_with_weekday(d: date) -> str:
    """The full form with the weekday, as notices write it: 令和5年7月20日（木）."""
    return f"{format_long(d)}（{_WEEKDAYS[d.weekday()]}）"


def format_series(dates: Iterable[date]) -> list[str]:
    """Each date in the order given, with the era-year only where it changes.

    Japanese documents write the year once and drop it while it stays the
    same, so ``[2023-07-20, 2023-08-31]`` gives
    ``["令和5年7月20日", "8月31日"]``.
    """
    written: list[str] = []
    previous: str | None = None
    for d in dates:
        label = era_year(d)
        written.append(format_short(d) if label == previous else label + format_short(d))
        previous = label
    return written


def format_period(start: date, end: date | None) -> str:
    """A period as reports write it.

    令和5年7月20日から8月31日まで; 令和5年12月1日から令和6年1月31日まで across
    a year; 令和5年7月16日から26日まで within a month; 令和5年10月2日から（継続中）
    while it has no end; a single date when
    it starts and ends on the same day.
    """
    if end is None:
        return f"{format_long(start)}から（継続中）"
    if end < start:
        raise WarekiError(f"終了日が開始日より前です: {format_long(start)}〜{format_long(end)}")
    if end == start:
        return format_long(start)
    first, last = format_series((start, end))
    if (start.year, start.month) == (end.year, end.month) and last == format_short(end):
        # The prefecture's own reports drop the month too: 令和5年7月16日から26日まで.
        last = f"{end.day}日"
    return f"{first}から{last}まで"


def fiscal_year(d: date) -> int:
    """The fiscal year (年度) of ``d`` as the calendar year it starts in April."""
    return d.year if d.month >= 4 else d.year - 1


def format_fiscal_year(d: date) -> str:
    """The fiscal year of ``d`` in the era: 令和5年度.

    A fiscal year is named by the newest era that had begun in its starting
    calendar year, which is how government papers name the years that an era
    change cut in two: April 2019 to March 2020 is 令和元年度 (not 平成31年度),
    and April 1988 to March 1989 stays 昭和63年度 because 平成 began in 1989.
    """
    # Called for its error alone: a date before 昭和 has no era to name.
    _era_of(d)
    year = fiscal_year(d)
    era = next(era for era in _ERAS if era.start.year <= year)
    return f"{_year_label(era, year)}度"


_ERA_BY_TOKEN: dict[str, _Era] = {token: era for era in _ERAS for token in (era.name, era.letter)}
_ERA_TOKEN = "|".join(_ERA_BY_TOKEN)
_MONTH_DAY = r"(?P<month>\d{1,2})(?P=sep)(?P<day>\d{1,2})"
_KANJI_MONTH_DAY = r"(?P<month>\d{1,2})月(?P<day>\d{1,2})日"

# re.ASCII because NFKC leaves digits of other scripts alone and \d would
# accept them; int() would then read them too.
_WESTERN = (
    re.compile(rf"(?P<year>\d{{4}})(?P<sep>[-/.]){_MONTH_DAY}", re.ASCII),
    re.compile(rf"(?P<year>\d{{4}})年{_KANJI_MONTH_DAY}", re.ASCII),
)
_JAPANESE = (
    re.compile(
        rf"(?P<era>{_ERA_TOKEN})(?P<year>\d{{1,2}}|元)(?P<sep>[-/.]){_MONTH_DAY}",
        re.ASCII | re.IGNORECASE,
    ),
    re.compile(
        rf"(?P<era>{_ERA_TOKEN})(?P<year>\d{{1,2}}|元)年{_KANJI_MONTH_DAY}",
        re.ASCII | re.IGNORECASE,
    ),
)
_YEARLESS = (
    re.compile(r"(?P<month>\d{1,2})/(?P<day>\d{1,2})", re.ASCII),
    re.compile(_KANJI_MONTH_DAY, re.ASCII),
)
# Excel and database exports hand dates over as midnight datetimes; any other
# time means the cell is not a plain date, so it is left to fail.
_MIDNIGHT = re.compile(r"(?:\s+|T)0?0:00(?::00(?:\.0+)?)?$")
_WEEKDAY_SUFFIX = re.compile(rf"\((?P<weekday>[{_WEEKDAYS}])\)$")
_DAY_ONLY = re.compile(r"(?P<day>\d{1,2})日", re.ASCII)
_RANGE_SEPARATOR = re.compile(r"[~〜]|から")


def _clean(text: str) -> str:
    normalised = unicodedata.normalize("NFKC", text).strip()
    return "".join(_MIDNIGHT.sub("", normalised).split())


def _make_date(year: int, month: int, day: int, shown: str) -> date:
    try:
        return date(year, month, day)
    except ValueError:
        raise WarekiError(f"日付として読めません: {shown}") from None


def _in_era(era: _Era, year_text: str, month: int, day: int, shown: str) -> date:
    number = 1 if year_text == "元" else int(year_text)
    d = _make_date(era.start.year + number - 1, month, day, shown)
    if d < era.start:
        raise WarekiError(f"{era.name}は{_western(era.start)}からです")
    if era.end is not None and d > era.end:
        raise WarekiError(f"{era.name}は{_western(era.end)}までです")
    return d


def _parse_cleaned(cleaned: str, default_year: int | None, shown: str) -> date:
    for pattern in _WESTERN:
        if match := pattern.fullmatch(cleaned):
            return _make_date(int(match["year"]), int(match["month"]), int(match["day"]), shown)
    for pattern in _JAPANESE:
        if match := pattern.fullmatch(cleaned):
            era = _ERA_BY_TOKEN[match["era"].upper()]
            return _in_era(era, match["year"], int(match["month"]), int(match["day"]), shown)
    for pattern in _YEARLESS:
        if match := pattern.fullmatch(cleaned):
            if default_year is None:
                raise WarekiError(f"年を付けてください: {shown}")
            return _make_date(default_year, int(match["month"]), int(match["day"]), shown)
    raise WarekiError(f"日付として読めません: {shown}")


def parse_date(text: str, *, default_year: int | None = None) -> date:
    """Read a date typed or pasted by a user, in any shape Japanese offices use.

    Accepts 2023-07-20, 2023/7/20, 2023.7.20, 2023年7月20日, 令和5年7月20日,
    令和元年5月1日, R5.7.20 or R5/7/20 (R, H, S in either case), full-width
    digits and separators, a midnight time part from spreadsheets, and a
    trailing weekday (（木）), which must be the date's. 7月20日 and 7/20 are
    read only when ``default_year`` says which year they are in.

    Raises WarekiError, whose message can be shown to the user, for text that
    is not a date, impossible dates, and era years outside their era.
    """
    shown = text.strip()
    cleaned = _clean(text)
    if not cleaned:
        raise WarekiError("日付が入力されていません")
    weekday: str | None = None
    if match := _WEEKDAY_SUFFIX.search(cleaned):
        weekday = match["weekday"]
        cleaned = cleaned[: match.start()]
    d = _parse_cleaned(cleaned, default_year, shown)
    if weekday is not None and weekday != _WEEKDAYS[d.weekday()]:
        raise WarekiError(f"{_western(d)}は{_WEEKDAYS[d.weekday()]}曜日です")
    return d


def parse_range(text: str) -> tuple[date, date]:
    """Read a period: 2023-07-20〜2023-08-31, with 〜, ～ or ~, or 〇〇から〇〇まで.

    An end without a year is in the start's year (令和5年7月20日から8月31日まで),
    and an end of only a day is in the start's month (令和5年7月16日から26日まで),
    because that is how reports shorten the second date. Raises WarekiError
    for an open or reversed period.
    """
    shown = text.strip()
    if not shown:
        raise WarekiError("期間が入力されていません")
    parts = _RANGE_SEPARATOR.split(unicodedata.normalize("NFKC", text))
    if len(parts) != 2:
        raise WarekiError(f"期間として読めません: {shown}")
    start = parse_date(parts[0])
    end_text = _clean(parts[1]).removesuffix("まで")
    if end_text in ("", "(継続中)"):
        raise WarekiError(f"終了日がありません: {shown}")
    if match := _DAY_ONLY.fullmatch(end_text):
        end = _make_date(start.year, start.month, int(match["day"]), end_text)
    else:
        end = parse_date(end_text, default_year=start.year)
    if end < start:
        raise WarekiError(f"終了日が開始日より前です: {shown}")
    return start, end

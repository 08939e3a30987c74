"""Demo data: the founding case, 令和5年7月14日からの大雨 (Akita, 2023).

Akita prefecture published totals and periods for four dispatch operations, but not the daily
rows behind them. This module is the founding case as a plausible daily series that reproduces
every published figure exactly: the periods, the last date per destination, 延べ2101人, 46人
and 105人, and the 1–2 and 2 persons a day of the Disaster Relief Act operation. Everything else
(which sender went where on which day) is invented. In particular, the seven cities that joined
秋田市 in the water-supply operation (item 4) are not published: the ones below are
illustrative.

Pure data: standard library only, no randomness. Daily variation comes from fixed tables and
arithmetic, so every call returns the same rows in the same order.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta


@dataclass(frozen=True)
class DemoOperation:
    code: str
    name: str
    display_order: int
    # 終了日: the published period's last day; None while the operation goes on (継続中).
    end_date: date | None


@dataclass(frozen=True)
class DemoEntry:
    operation: str
    date: date
    sender: str
    sender_unit: str
    destination: str
    duty: str
    headcount: int


DISASTER_SLUG = "akita-2023-rain"
DISASTER_NAME = "令和5年7月14日からの大雨"
DISASTER_START = date(2023, 7, 14)
# Whose tool the demo is (DISPATCH_OWN_ORGANISATION, set by scripts/run), and the prefecture the rain struck.
OWN_ORGANISATION = "050008"
AFFECTED_PREFECTURES = ("050008",)

MUTUAL_AID = "mutual-aid"
RECOVERY_SUPPORT = "recovery-support"
RELIEF_ACT = "relief-act"
WATER_SUPPLY = "water-supply"

OPERATIONS: tuple[DemoOperation, ...] = (
    DemoOperation(MUTUAL_AID, "災害時の相互応援協定に基づく派遣", 1, end_date=date(2023, 8, 31)),
    DemoOperation(RECOVERY_SUPPORT, "災害復旧支援業務に係る派遣", 2, end_date=date(2023, 9, 29)),
    DemoOperation(RELIEF_ACT, "災害救助法業務に係る派遣", 3, end_date=None),
    DemoOperation(WATER_SUPPLY, "応急給水業務に係る派遣", 4, end_date=date(2023, 7, 26)),
)

# Organisation codes (全国地方公共団体コード, data/akita_municipalities.csv).
AKITA_PREF = "050008"
AKITA_CITY = "052019"
NOSHIRO = "052027"
YOKOTE = "052035"
ODATE = "052043"
OGA = "052060"
YUZAWA = "052078"
KAZUNO = "052094"
YURIHONJO = "052108"
DAISEN = "052124"
KITAAKITA = "052132"
NIKAHO = "052141"
SENBOKU = "052159"
KOSAKA = "053031"
MITANE = "053481"
HAPPO = "053490"
GOJOME = "053619"
IKAWA = "053660"
MISATO = "054348"
UGO = "054631"

PREF_DISASTER_DIVISION = "総務部総合防災課"

# 配属先 as the report published it: 五城目町（町災害対策本部事務局） in item 2. (operation, destination, section)
RECEIVING_SECTIONS: tuple[tuple[str, str, str], ...] = ((RECOVERY_SUPPORT, GOJOME, "町災害対策本部事務局"),)

# National holidays that fall inside the weekday-only periods (items 2 and 3).
_HOLIDAYS = frozenset({date(2023, 9, 18), date(2023, 10, 9)})


@dataclass(frozen=True)
class Stint:
    """One sender's crew at one destination for one duty, the same headcount every day."""

    destination: str
    duty: str
    sender: str
    sender_unit: str
    first: date
    last: date
    headcount: int


def _days(first: date, last: date) -> list[date]:
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


def _working_days(first: date, last: date) -> list[date]:
    return [day for day in _days(first, last) if day.weekday() < 5 and day not in _HOLIDAYS]


def _d(month: int, day: int) -> date:
    return date(2023, month, day)


# Item 1: 令和5年7月20日から8月31日まで; 秋田市 (8月31日まで), 五城目町 (8月22日まで);
# 延べ2101人. Water supply in the first week while mains were restored; house damage surveys
# from 7/22, with 罹災証明書 counters once survey results came in. Staggered stints give the
# ramp, the peak around the turn of the month and the taper.
_MUTUAL_AID_STINTS: tuple[Stint, ...] = (
    Stint(AKITA_CITY, "water_supply", AKITA_PREF, "建設部", _d(7, 20), _d(7, 27), 6),
    Stint(AKITA_CITY, "water_supply", DAISEN, "", _d(7, 20), _d(7, 26), 8),
    Stint(AKITA_CITY, "water_supply", YOKOTE, "", _d(7, 21), _d(7, 27), 5),
    Stint(AKITA_CITY, "water_supply", YURIHONJO, "", _d(7, 21), _d(7, 26), 4),
    Stint(AKITA_CITY, "damage_survey", AKITA_PREF, "総務部", _d(7, 24), _d(8, 31), 10),
    Stint(AKITA_CITY, "damage_survey", AKITA_PREF, "建設部", _d(7, 28), _d(8, 18), 10),
    Stint(AKITA_CITY, "damage_survey", NOSHIRO, "", _d(7, 26), _d(8, 20), 6),
    Stint(AKITA_CITY, "damage_survey", ODATE, "", _d(7, 27), _d(8, 20), 6),
    Stint(AKITA_CITY, "damage_survey", YOKOTE, "", _d(7, 28), _d(8, 25), 6),
    Stint(AKITA_CITY, "damage_survey", DAISEN, "", _d(7, 28), _d(8, 25), 6),
    Stint(AKITA_CITY, "damage_survey", KITAAKITA, "", _d(7, 31), _d(8, 18), 5),
    Stint(AKITA_CITY, "damage_survey", SENBOKU, "", _d(7, 31), _d(8, 18), 5),
    Stint(AKITA_CITY, "damage_survey", AKITA_PREF, "農林水産部", _d(8, 1), _d(8, 18), 4),
    Stint(AKITA_CITY, "damage_survey", MISATO, "", _d(8, 1), _d(8, 14), 2),
    Stint(AKITA_CITY, "certificate", YUZAWA, "", _d(8, 1), _d(8, 14), 4),
    Stint(AKITA_CITY, "certificate", NIKAHO, "", _d(8, 1), _d(8, 14), 3),
    Stint(GOJOME, "damage_survey", AKITA_PREF, "建設部", _d(7, 22), _d(8, 22), 4),
    Stint(GOJOME, "damage_survey", KAZUNO, "", _d(7, 24), _d(8, 10), 2),
    Stint(GOJOME, "damage_survey", YURIHONJO, "", _d(7, 28), _d(8, 22), 3),
    Stint(GOJOME, "damage_survey", MITANE, "", _d(7, 24), _d(8, 4), 2),
    Stint(GOJOME, "certificate", KOSAKA, "", _d(8, 1), _d(8, 10), 1),
    Stint(GOJOME, "certificate", UGO, "", _d(8, 1), _d(8, 10), 1),
)

# Item 2: 令和5年8月12日から9月29日まで; 五城目町 (町災害対策本部事務局);
# 県総務部総合防災課防災監等, 延べ46人. From the first weekend to 8/23 the 防災監 went with a
# member of staff (2 a day); after that, one officer on working days (9/18 holiday off).
_RECOVERY_SUPPORT_OPENING = (_d(8, 12), _d(8, 13))
_RECOVERY_SUPPORT_PAIRED_UNTIL = _d(8, 23)

# Item 3: 令和5年10月2日から (継続中); 五城目町; 県総務部総合防災課職員 (1～2人/日),
# 県内市町村職員 (2人/日). Working days only (weekends and the 10/9 holiday off), as the office
# work of the Act follows the town hall's calendar. Municipalities take turns by the week: a
# week's pair sends one person each, or one municipality sends both.
_RELIEF_ACT_FIRST = _d(10, 2)
_RELIEF_ACT_LAST = _d(10, 31)
_RELIEF_ACT_ROTA: tuple[tuple[tuple[str, int], ...], ...] = (
    ((NOSHIRO, 1), (YURIHONJO, 1)),
    ((DAISEN, 2),),
    ((ODATE, 1), (KITAAKITA, 1)),
    ((YOKOTE, 1), (MISATO, 1)),
    ((YUZAWA, 1), (MITANE, 1)),
)

# Item 4: 令和5年7月16日から26日まで; 男鹿市, 八峰町, 五城目町, 井川町; 秋田市ほか7市,
# 延べ105人. Water-truck crews of two or three. The seven cities besides 秋田市 are
# illustrative, not published.
_WATER_SUPPLY_STINTS: tuple[Stint, ...] = (
    Stint(GOJOME, "water_supply", AKITA_CITY, "上下水道局", _d(7, 16), _d(7, 20), 3),
    Stint(OGA, "water_supply", AKITA_CITY, "上下水道局", _d(7, 16), _d(7, 19), 2),
    Stint(HAPPO, "water_supply", NOSHIRO, "", _d(7, 16), _d(7, 22), 2),
    Stint(HAPPO, "water_supply", ODATE, "", _d(7, 17), _d(7, 21), 2),
    Stint(IKAWA, "water_supply", YOKOTE, "", _d(7, 17), _d(7, 22), 2),
    Stint(GOJOME, "water_supply", DAISEN, "", _d(7, 18), _d(7, 24), 2),
    Stint(OGA, "water_supply", YURIHONJO, "", _d(7, 18), _d(7, 23), 2),
    Stint(IKAWA, "water_supply", YUZAWA, "", _d(7, 21), _d(7, 26), 2),
    Stint(GOJOME, "water_supply", SENBOKU, "", _d(7, 23), _d(7, 26), 2),
)


def stint_entries(operation: str, stints: tuple[Stint, ...]) -> list[DemoEntry]:
    return [
        DemoEntry(
            operation=operation,
            date=day,
            sender=stint.sender,
            sender_unit=stint.sender_unit,
            destination=stint.destination,
            duty=stint.duty,
            headcount=stint.headcount,
        )
        for stint in stints
        for day in _days(stint.first, stint.last)
    ]


def _recovery_support_entries() -> list[DemoEntry]:
    days = [*_RECOVERY_SUPPORT_OPENING, *_working_days(_d(8, 14), _d(9, 29))]
    return [
        DemoEntry(
            operation=RECOVERY_SUPPORT,
            date=day,
            sender=AKITA_PREF,
            sender_unit=PREF_DISASTER_DIVISION,
            destination=GOJOME,
            duty="hq_support",
            headcount=2 if day <= _RECOVERY_SUPPORT_PAIRED_UNTIL else 1,
        )
        for day in days
    ]


def _relief_act_entries() -> list[DemoEntry]:
    entries: list[DemoEntry] = []
    for day in _working_days(_RELIEF_ACT_FIRST, _RELIEF_ACT_LAST):
        week = (day - _RELIEF_ACT_FIRST).days // 7
        # Two prefecture officers on Mondays (handover of the week's cases), one on other days.
        entries.append(
            DemoEntry(
                operation=RELIEF_ACT,
                date=day,
                sender=AKITA_PREF,
                sender_unit=PREF_DISASTER_DIVISION,
                destination=GOJOME,
                duty="relief_act",
                headcount=2 if day.weekday() == 0 else 1,
            )
        )
        entries.extend(
            DemoEntry(
                operation=RELIEF_ACT,
                date=day,
                sender=sender,
                sender_unit="",
                destination=GOJOME,
                duty="relief_act",
                headcount=headcount,
            )
            for sender, headcount in _RELIEF_ACT_ROTA[week]
        )
    return entries


def founding_case_entries() -> list[DemoEntry]:
    """Every dispatch row of the founding case, by operation (report order) and then by date."""
    order = {operation.code: operation.display_order for operation in OPERATIONS}
    entries = [
        *stint_entries(MUTUAL_AID, _MUTUAL_AID_STINTS),
        *_recovery_support_entries(),
        *_relief_act_entries(),
        *stint_entries(WATER_SUPPLY, _WATER_SUPPLY_STINTS),
    ]
    return sorted(entries, key=lambda entry: (order[entry.operation], entry.date))

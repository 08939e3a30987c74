"""Demo data: a disaster seen from a sending prefecture. INVENTED for the demo and the tests, not published.

The founding case (demo.py) is seen from the affected prefecture. This one exercises the other side: a
disaster in 石川県 that 秋田県 and 三重県, some of their municipalities and one national agency sent staff to.
The disaster's name says that it is an exercise; every figure below is made up, small enough to add up by
hand, and has no relation to what anyone sent after the real earthquake of 2024-01-01.

Seen from 秋田県 (the demo's own organisation) it is a sending prefecture's report; seen from 三重県
(``OWN_ORGANISATION=240001``) another one, with the roles of the two swapped. Person-days as of 2024-04-30
(written out by hand in tests/test_viewpoint.py):

| sender | (1) 輪島市 | (2) 珠洲市 | (3) 珠洲市 | total |
|---|---:|---:|---:|---:|
| 三重県 | 88 + 123 = 211 | | 30 | 241 |
| 津市, 四日市市, 鈴鹿市 (三重県) | 42 + 28 = 70 | 20 | | 90 |
| 秋田県 | 28 | | 30 | 58 |
| 秋田市, 横手市 (秋田県) | 28 | 42 + 16 = 58 | | 86 |
| 総務省 (another body) | 10 | | | 10 |
| **total** | **347** | **78** | **60** | **485** |

Pure data: standard library only, no randomness.
"""

from __future__ import annotations

from datetime import date

from .demo import DemoEntry, DemoOperation, Stint, stint_entries

DISASTER_SLUG = "noto-2024-drill"
DISASTER_NAME = "令和6年能登半島地震（演習用の架空データ）"
DISASTER_START = date(2024, 1, 1)
AFFECTED_PREFECTURES = ("170003",)

COUNTERPART = "counterpart"
WATER_SUPPLY = "water-supply"
LONG_TERM = "long-term"

OPERATIONS: tuple[DemoOperation, ...] = (
    DemoOperation(COUNTERPART, "被災市町への応援職員の派遣（対口支援）", 1, end_date=date(2024, 2, 29)),
    DemoOperation(WATER_SUPPLY, "応急給水支援", 2, end_date=date(2024, 1, 18)),
    DemoOperation(LONG_TERM, "中長期の職員派遣（地方自治法第252条の17）", 3, end_date=None),
)

ISHIKAWA_PREF = "170003"
WAJIMA = "172049"
SUZU = "172057"
MIE_PREF = "240001"
TSU = "242012"
YOKKAICHI = "242021"
SUZUKA = "242071"
AKITA_PREF = "050008"
AKITA_CITY = "052019"
YOKOTE = "052035"

# The one body that is not a local government: registered by the demo under the next X code (organisations.py).
NATIONAL_AGENCY = "総務省"
NATIONAL_AGENCY_KANA = "ソウムショウ"

RECEIVING_SECTIONS: tuple[tuple[str, str, str], ...] = ((COUNTERPART, WAJIMA, "市災害対策本部"),)


def _d(month: int, day: int) -> date:
    return date(2024, month, day)


# (1) 2024-01-10 to 02-29, to 輪島市: shelters first, house damage surveys from 01-20.
_COUNTERPART_STINTS: tuple[Stint, ...] = (
    Stint(WAJIMA, "shelter", MIE_PREF, "防災対策部", _d(1, 10), _d(1, 31), 4),  # 22 days, 88
    Stint(WAJIMA, "damage_survey", MIE_PREF, "総務部", _d(1, 20), _d(2, 29), 3),  # 41 days, 123
    Stint(WAJIMA, "damage_survey", TSU, "", _d(1, 20), _d(2, 9), 2),  # 21 days, 42
    Stint(WAJIMA, "shelter", YOKKAICHI, "", _d(1, 15), _d(1, 28), 2),  # 14 days, 28
    Stint(WAJIMA, "shelter", AKITA_PREF, "総務部", _d(1, 10), _d(1, 23), 2),  # 14 days, 28
    Stint(WAJIMA, "damage_survey", AKITA_CITY, "", _d(2, 1), _d(2, 14), 2),  # 14 days, 28
    Stint(WAJIMA, "mgmt_support", NATIONAL_AGENCY, "", _d(1, 10), _d(1, 19), 1),  # 10 days, 10
)

# (2) 2024-01-05 to 01-18, water trucks to 珠洲市.
_WATER_SUPPLY_STINTS: tuple[Stint, ...] = (
    Stint(SUZU, "water_supply", YOKOTE, "", _d(1, 5), _d(1, 18), 3),  # 14 days, 42
    Stint(SUZU, "water_supply", SUZUKA, "", _d(1, 6), _d(1, 15), 2),  # 10 days, 20
    Stint(SUZU, "water_supply", AKITA_CITY, "", _d(1, 5), _d(1, 12), 2),  # 8 days, 16
)

# (3) from 2024-04-01, still going: one civil engineer a day from each prefecture to 珠洲市.
_LONG_TERM_STINTS: tuple[Stint, ...] = (
    Stint(SUZU, "civil_eng", MIE_PREF, "建設部", _d(4, 1), _d(4, 30), 1),  # 30 days, 30
    Stint(SUZU, "civil_eng", AKITA_PREF, "建設部", _d(4, 1), _d(4, 30), 1),  # 30 days, 30
)


def sending_case_entries() -> list[DemoEntry]:
    """Every row of the invented case, by operation and then by date. A sender given as NATIONAL_AGENCY is
    the other body by name, not by code: its code is the one it gets when the demo registers it."""
    order = {operation.code: operation.display_order for operation in OPERATIONS}
    entries = [
        *stint_entries(COUNTERPART, _COUNTERPART_STINTS),
        *stint_entries(WATER_SUPPLY, _WATER_SUPPLY_STINTS),
        *stint_entries(LONG_TERM, _LONG_TERM_STINTS),
    ]
    return sorted(entries, key=lambda entry: (order[entry.operation], entry.date))

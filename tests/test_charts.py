import re
import xml.etree.ElementTree as ET
from datetime import date, timedelta

import pytest
from markupsafe import Markup

from dispatch.charts import PHONE_WIDTH, bar_chart, daily_chart, for_screens, nice_ticks
from dispatch.totals import DayPoint

SVG = "{http://www.w3.org/2000/svg}"

OPERATIONS = [("shelter", "避難所運営"), ("certificate", "罹災証明")]
THREE_DAYS = [
    DayPoint(date(2023, 7, 20), {"shelter": 10, "certificate": 5}, 15, 15),
    DayPoint(date(2023, 7, 21), {"shelter": 12}, 12, 27),
    DayPoint(date(2023, 7, 22), {"shelter": 20, "certificate": 13}, 33, 60),
]
DESTINATIONS = [
    ("輪島市", 2101),
    ("珠洲市", 1840),
    ("能登町", 1203),
    ("穴水町", 880),
    ("七尾市", 640),
    ("志賀町", 410),
    ("中能登町", 120),
    ("羽咋市", 95),
    ("かほく市", 44),
    ("内灘町", 30),
    ("津幡町", 12),
    ("宝達志水町", 7),
]


def parse(chart: Markup) -> ET.Element:
    assert isinstance(chart, Markup)
    return ET.fromstring(str(chart))


def bars(root: ET.Element) -> list[ET.Element]:
    return [el for el in root.iter(f"{SVG}rect") if "data-value" in el.attrib]


def texts(root: ET.Element) -> list[str]:
    return ["".join(el.itertext()) for el in root.iter(f"{SVG}text")]


def tick_y(root: ET.Element, axis: str, value: int) -> float:
    (line,) = [
        el
        for el in root.iter(f"{SVG}line")
        if el.get("data-axis") == axis and el.get("data-tick") == str(value)
    ]
    return float(line.attrib["y1"])


def cumulative_points(root: ET.Element) -> list[tuple[float, float]]:
    (line,) = [el for el in root.iter(f"{SVG}polyline") if el.get("data-series") == "cumulative"]
    return [(float(x), float(y)) for x, y in (pair.split(",") for pair in line.attrib["points"].split())]


@pytest.mark.parametrize(
    ("maximum", "count", "expected"),
    [
        (2101, 5, [0, 500, 1000, 1500, 2000, 2500]),
        (2000, 5, [0, 500, 1000, 1500, 2000]),
        (60, 5, [0, 20, 40, 60]),
        (33, 5, [0, 10, 20, 30, 40]),
        (10, 5, [0, 2, 4, 6, 8, 10]),
        (7, 5, [0, 2, 4, 6, 8]),
        (3, 5, [0, 1, 2, 3]),
        (1, 5, [0, 1]),
        (0, 5, [0, 1]),
        (-4, 5, [0, 1]),
        (100, 4, [0, 50, 100]),
        (15300, 5, [0, 5000, 10000, 15000, 20000]),
    ],
)
def test_nice_ticks(maximum: int, count: int, expected: list[int]) -> None:
    assert nice_ticks(maximum, count) == expected


def test_nice_ticks_needs_a_step() -> None:
    with pytest.raises(ValueError):
        nice_ticks(10, 0)


def test_a_year_of_days_is_drawn_as_one_path_per_operation() -> None:
    # 200 days: shelter every day, certificate every other day; cumulative 200×3 + 100×2 = 800.
    points = []
    cumulative = 0
    for i in range(200):
        values = {"shelter": 3, **({"certificate": 2} if i % 2 == 0 else {})}
        cumulative += sum(values.values())
        points.append(
            DayPoint(date(2023, 7, 20) + timedelta(days=i), values, sum(values.values()), cumulative)
        )

    root = parse(daily_chart(points, OPERATIONS, title="日別派遣人数"))

    assert bars(root) == []
    paths = {p.get("data-operation"): p.get("d") for p in root.iter(f"{SVG}path") if p.get("data-operation")}
    assert set(paths) == {"shelter", "certificate"}
    assert paths["shelter"].count("M") == 200 and paths["certificate"].count("M") == 100
    cumulative_line = next(el for el in root.iter(f"{SVG}polyline") if el.get("data-series") == "cumulative")
    assert cumulative_line.get("data-value") == "800"


def test_daily_chart_draws_one_bar_per_operation_and_day() -> None:
    root = parse(daily_chart(THREE_DAYS, OPERATIONS, title="日別派遣人数"))

    assert root.tag == f"{SVG}svg"
    assert root.get("data-chart") == "daily"
    assert [(b.get("data-day"), b.get("data-operation"), b.get("data-value")) for b in bars(root)] == [
        ("2023-07-20", "shelter", "10"),
        ("2023-07-20", "certificate", "5"),
        ("2023-07-21", "shelter", "12"),
        ("2023-07-22", "shelter", "20"),
        ("2023-07-22", "certificate", "13"),
    ]


def test_daily_chart_stacks_bars_on_the_left_axis() -> None:
    root = parse(daily_chart(THREE_DAYS, OPERATIONS, title="日別派遣人数"))
    zero, forty = tick_y(root, "daily", 0), tick_y(root, "daily", 40)
    per_person = (zero - forty) / 40
    shelter, certificate = [b for b in bars(root) if b.get("data-day") == "2023-07-22"]

    assert [t for t in texts(root) if t in {"0", "10", "20", "30", "40"}][:5] == ["0", "10", "20", "30", "40"]
    assert float(shelter.attrib["y"]) + float(shelter.attrib["height"]) == pytest.approx(zero)
    assert float(shelter.attrib["height"]) == pytest.approx(20 * per_person, abs=0.02)
    assert float(certificate.attrib["y"]) == pytest.approx(zero - 33 * per_person, abs=0.02)


def test_cumulative_line_ends_at_the_last_cumulative_value() -> None:
    root = parse(daily_chart(THREE_DAYS, OPERATIONS, title="日別派遣人数"))
    zero, sixty = tick_y(root, "cumulative", 0), tick_y(root, "cumulative", 60)
    line = cumulative_points(root)

    assert len(line) == 3
    assert line[-1][1] == sixty
    assert line[0][1] == pytest.approx(zero - (zero - sixty) * 15 / 60, abs=0.02)
    assert [t for t in texts(root) if t in {"0", "20", "40", "60"}][-4:] == ["0", "20", "40", "60"]


def test_daily_chart_labels_days_legend_and_summary() -> None:
    root = parse(daily_chart(THREE_DAYS, OPERATIONS, title="日別派遣人数"))
    shown = texts(root)

    assert [t for t in shown if re.fullmatch(r"\d+/\d+", t)] == ["7/20", "7/21", "7/22"]
    assert "避難所運営" in shown
    assert "罹災証明" in shown
    assert "累計延べ人数（右目盛）" in shown
    assert root.get("role") == "img"
    label = root.get("aria-label")
    assert label is not None
    assert label.startswith("日別派遣人数。令和5年7月20日から22日まで")
    assert "1日の最多は7月22日の33人" in label
    assert "累計延べ人数は60人" in label
    assert root[0].tag == f"{SVG}title"
    assert root[0].text == label


def test_daily_chart_labels_about_once_a_week_over_two_months() -> None:
    points = [
        DayPoint(date(2024, 1, 5) + timedelta(days=i), {"shelter": 10}, 10, 10 * (i + 1)) for i in range(60)
    ]
    root = parse(daily_chart(points, OPERATIONS, title="日別派遣人数"))

    assert len(bars(root)) == 60
    assert [t for t in texts(root) if re.fullmatch(r"\d+/\d+", t)] == [
        "1/5",
        "1/12",
        "1/19",
        "1/26",
        "2/2",
        "2/9",
        "2/16",
        "2/23",
        "3/1",
    ]
    assert cumulative_points(root)[-1][1] == tick_y(root, "cumulative", 600)


def test_daily_chart_stacks_an_unlisted_operation_under_its_code() -> None:
    points = [DayPoint(date(2023, 7, 20), {"shelter": 4, "water": 3}, 7, 7)]
    root = parse(daily_chart(points, OPERATIONS, title="日別派遣人数"))

    assert [(b.get("data-operation"), b.get("data-value")) for b in bars(root)] == [
        ("shelter", "4"),
        ("water", "3"),
    ]
    assert "water" in texts(root)


def test_bar_chart_sums_the_rest_into_other() -> None:
    root = parse(bar_chart(DESTINATIONS, title="派遣先別の累計延べ人数"))
    drawn = bars(root)
    shown = texts(root)

    assert root.get("data-chart") == "bar"
    assert [(b.get("data-label"), b.get("data-value")) for b in drawn] == [
        ("輪島市", "2101"),
        ("珠洲市", "1840"),
        ("能登町", "1203"),
        ("穴水町", "880"),
        ("七尾市", "640"),
        ("志賀町", "410"),
        ("中能登町", "120"),
        ("羽咋市", "95"),
        ("かほく市", "44"),
        ("内灘町", "30"),
        ("その他", "19"),
    ]
    assert "2,101人" in shown
    assert "19人" in shown
    assert "その他" in shown
    assert "津幡町" not in shown
    widths = [float(b.attrib["width"]) for b in drawn]
    assert widths == sorted(widths, reverse=True)
    assert widths[0] / widths[3] == pytest.approx(2101 / 880, rel=0.001)
    label = root.get("aria-label")
    assert label == (
        "派遣先別の累計延べ人数。輪島市 2,101人、珠洲市 1,840人、能登町 1,203人、穴水町 880人、七尾市 640人、"
        "志賀町 410人、中能登町 120人、羽咋市 95人、かほく市 44人、内灘町 30人、その他 19人。"
    )


def test_bar_chart_within_the_limit_has_no_other_and_takes_a_unit() -> None:
    root = parse(bar_chart([("名古屋市", 12), ("岐阜市", 3)], title="派遣元", unit="件", limit=2))

    assert [b.get("data-value") for b in bars(root)] == ["12", "3"]
    assert "その他" not in texts(root)
    assert "12件" in texts(root)
    assert "3件" in texts(root)


def test_bar_chart_needs_a_positive_limit() -> None:
    with pytest.raises(ValueError):
        bar_chart(DESTINATIONS, title="派遣先", limit=0)


@pytest.mark.parametrize(
    "chart",
    [
        daily_chart([], OPERATIONS, title="日別派遣人数"),
        bar_chart([], title="派遣先別の累計延べ人数"),
    ],
)
def test_empty_charts_say_there_is_no_data(chart: Markup) -> None:
    root = parse(chart)

    assert texts(root) == ["データがありません"]
    assert bars(root) == []
    assert root.get("role") == "img"
    assert root.get("aria-label", "").endswith("：データがありません")


def all_charts(name: str = "避難所運営", title: str = "グラフ") -> list[Markup]:
    return [
        daily_chart(THREE_DAYS, [("shelter", name), ("certificate", "罹災証明")], title=title),
        bar_chart([(name, 3), *DESTINATIONS], title=title),
        daily_chart([], OPERATIONS, title=title),
        bar_chart([], title=title),
    ]


@pytest.mark.parametrize("chart", all_charts())
def test_charts_pass_the_content_security_policy(chart: Markup) -> None:
    text = str(chart)

    assert "style=" not in text
    assert "<style" not in text
    assert "<script" not in text
    assert "javascript:" not in text
    assert re.findall(r"https?:[^\"'\s]*", text) == ["http://www.w3.org/2000/svg"]
    assert parse(chart).get("width") == "100%"
    assert parse(chart).get("font-family") == "sans-serif"


@pytest.mark.parametrize("chart", all_charts())
def test_patterns_are_defined_in_the_chart_that_uses_them(chart: Markup) -> None:
    root = parse(chart)
    defined = {el.attrib["id"] for el in root.iter(f"{SVG}pattern")}
    used = {m for el in root.iter() for m in re.findall(r"url\(#([^)]+)\)", el.get("fill", ""))}

    assert used <= defined


@pytest.mark.parametrize("chart", all_charts(name="<b>避難所</b>", title="<script>x</script>"))
def test_text_is_escaped(chart: Markup) -> None:
    text = str(chart)

    assert "<b>" not in text
    assert "<script" not in text
    assert "&lt;script&gt;" in text
    root = parse(chart)
    assert "<script>x</script>" in (root.get("aria-label") or "")


def test_operation_names_are_escaped_in_the_legend() -> None:
    chart = daily_chart(THREE_DAYS, [("shelter", "<b>避難所</b>")], title="日別派遣人数")

    assert "&lt;b&gt;避難所&lt;/b&gt;" in str(chart)
    assert "<b>避難所</b>" in texts(parse(chart))


def test_same_input_draws_the_same_chart() -> None:
    assert daily_chart(THREE_DAYS, OPERATIONS, title="日別") == daily_chart(
        THREE_DAYS, OPERATIONS, title="日別"
    )


def font_sizes(root: ET.Element) -> list[float]:
    """Each text's size in the chart's own units: its font-size, or the chart's."""
    return [float(el.get("font-size") or root.attrib["font-size"]) for el in root.iter(f"{SVG}text")]


def test_a_phone_copy_is_narrow_and_keeps_its_text_at_twelve_units() -> None:
    daily = parse(
        daily_chart(
            THREE_DAYS, OPERATIONS, title="日ごとの派遣人数（派遣区分別）と累計延べ人数", width=PHONE_WIDTH
        )
    )
    bar = parse(bar_chart(DESTINATIONS, title="派遣先別の累計延べ人数", width=PHONE_WIDTH))

    for root in (daily, bar):
        assert root.attrib["viewBox"].startswith("0 0 320 ")
        # Shown about 350 px wide on a phone, 12 units read at 13 px.
        assert min(font_sizes(root)) == 12
    # A title too long for the width breaks after its bracket rather than running off the edge.
    assert texts(daily)[:2] == ["日ごとの派遣人数（派遣区分別）", "と累計延べ人数"]
    # The wide chart keeps its smaller axis figures and its one-line title.
    wide = parse(daily_chart(THREE_DAYS, OPERATIONS, title="日ごとの派遣人数（派遣区分別）と累計延べ人数"))
    assert texts(wide)[0] == "日ごとの派遣人数（派遣区分別）と累計延べ人数"
    assert 11 in font_sizes(parse(bar_chart(DESTINATIONS, title="派遣先別の累計延べ人数")))


def test_for_screens_draws_both_copies_each_with_its_own_patterns() -> None:
    both = str(for_screens(lambda width: bar_chart(DESTINATIONS, title="派遣先", width=width)))
    wide, narrow = (
        parse(Markup(svg))
        for svg in re.findall(r'<div class="chart-(?:wide|narrow)">(.*?)</div>', both, re.S)
    )

    assert wide.attrib["viewBox"].startswith("0 0 800 ")
    assert narrow.attrib["viewBox"].startswith(f"0 0 {PHONE_WIDTH} ")
    # One page holds both: a fill must not point at the pattern of the copy that is hidden.
    wide_ids = {el.attrib["id"] for el in wide.iter(f"{SVG}pattern")}
    narrow_ids = {el.attrib["id"] for el in narrow.iter(f"{SVG}pattern")}
    assert wide_ids and narrow_ids
    assert wide_ids.isdisjoint(narrow_ids)

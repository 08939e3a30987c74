"""Charts as inline SVG, drawn on the server.

Pages run on LGWAN behind a Content-Security-Policy that allows no inline styles and no script, and are
often printed in black and white. So every chart is one ``<svg>`` element styled only with presentation
attributes; series differ in lightness and hatching as well as hue, and carry direct labels or a legend.
Each chart is ``role="img"`` with a Japanese summary of its figures for screen readers.

Every drawn bar has ``data-value`` (its number) and the root has ``data-chart``, so browser tests can read
what was drawn without parsing coordinates.

A chart is drawn ``width`` units wide with 12-unit text and scales to its box. Drawn 800 wide and shown on a
390 px phone, its text would be 5 px tall; so phones get a copy drawn ``PHONE_WIDTH`` wide (``for_screens``),
whose text shows at 12 px or more there.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from markupsafe import Markup

from . import svg
from .totals import DayPoint
from .wareki import format_period, format_short

__all__ = ["PHONE_WIDTH", "bar_chart", "daily_chart", "for_screens", "nice_ticks"]

OTHER = "その他"
CUMULATIVE = "累計延べ人数"

_WIDTH = 800
# About what a phone's screen gives a chart (a 360-390 px screen less the page's margins), so that 12 units
# show at 12 px or more.
PHONE_WIDTH = 320
_TICK_FONT = 11  # the bar chart's axis figures, where the wide chart has room for them smaller


# Neighbours differ in lightness, and those of similar lightness differ in hatching, so stacked
# segments stay apart in a greyscale print.
_PALETTE: tuple[svg.Fill, ...] = (
    svg.Fill("#1f4e79"),
    svg.Fill("#a6cee3"),
    svg.Fill("#e08a2c", ink="#5a2e00", angle=45),
    svg.Fill("#4d4d4d", ink="#ffffff", dots=True),
    svg.Fill("#f3e3a0", ink="#6b5a00", angle=-45),
    svg.Fill("#2e7d32", ink="#ffffff", angle=90),
    svg.Fill("#d9c2e6", ink="#3f1f5a", angle=0),
    svg.Fill("#8c2d04", ink="#ffffff", angle=-45),
)
_BAR = "#2f5f8f"
_OTHER_BAR = svg.Fill("#c8c8c8", ink="#555555", angle=45)


def nice_ticks(maximum: int, count: int = 5) -> list[int]:
    """Axis ticks from 0 in round steps (1, 2 or 5 times a power of ten) up to the first tick at or
    above ``maximum``, using at most ``count`` steps. A maximum of 0 still gives an axis: [0, 1]."""
    if count < 1:
        raise ValueError("count must be at least 1")
    maximum = max(maximum, 0)
    magnitude = 1
    while True:
        for multiple in (1, 2, 5):
            step = multiple * magnitude
            if step * count >= maximum:
                steps = max(1, -(-maximum // step))
                return [step * i for i in range(steps + 1)]
        magnitude *= 10


# Up to this many days a bar is an element of its own, with its value as a tooltip.
ONE_ELEMENT_PER_BAR_UP_TO = 120


def daily_chart(
    points: Sequence[DayPoint], operations: Sequence[tuple[str, str]], *, title: str, width: int = _WIDTH
) -> Markup:
    """Headcount per day stacked by operation, with cumulative person-days as a line on the right axis.

    ``operations`` are (code, name) in stacking order, bottom first; an operation code found in the
    points but not listed is stacked last under its code, so each bar still adds up to the day.
    """
    if not points:
        return svg.empty("daily", title, width)
    listed = [code for code, _ in operations]
    unlisted = sorted({code for p in points for code in p.by_operation} - set(listed))
    series = [*operations, *((code, code) for code in unlisted)]
    fills = [_PALETTE[i % len(_PALETTE)] for i in range(len(series))]
    fill_ids = svg.pattern_ids("daily", title, (points, series, width), len(series))

    legend_items = [
        svg.legend_swatch(fill, fill_id, name)
        for fill, fill_id, (_, name) in zip(fills, fill_ids, series, strict=True)
    ]
    legend_items.append(svg.legend_line(f"{CUMULATIVE}（右目盛）"))
    heading, title_bottom = svg.title(title, width)
    legend, legend_bottom = svg.legend(legend_items, top=title_bottom + 18, width=width)

    plot = _daily_plot(points, top=legend_bottom + 30, width=width)
    paints = [svg.paint(fill, fill_id) for fill, fill_id in zip(fills, fill_ids, strict=True)]
    draw_bars = _bars_as_paths if len(points) > ONE_ELEMENT_PER_BAR_UP_TO else _bars_as_rects
    return svg.root(
        "daily",
        _daily_summary(points, series, title),
        width,
        plot.bottom + 34,
        svg.defs(fills, fill_ids),
        heading,
        legend,
        svg.text(svg.EDGE, plot.top - 12, "日別人数（人）", anchor="start"),
        svg.text(width - svg.EDGE, plot.top - 12, f"{CUMULATIVE}（人）", anchor="end"),
        svg.tag("g", {}, *_day_grid(plot)),
        svg.tag("g", {"data-series": "bars"}, *draw_bars(plot, points, series, paints)),
        *(svg.text(plot.left - 6, plot.y_day(t) + 4, f"{t:,}", anchor="end") for t in plot.day_ticks),
        *_cumulative_axis(plot),
        *_day_labels(plot, points),
        *_cumulative_line(plot, points),
    )


@dataclass(frozen=True)
class _DailyPlot:
    """Where a daily chart draws: the plot area, its two value axes and one slot per day."""

    left: float
    right: float
    top: float
    bottom: float
    day_ticks: list[int]  # the left axis: headcount on the day
    cumulative_ticks: list[int]  # the right axis: person-days so far
    slot: float
    bar_w: float

    @property
    def width(self) -> float:
        return self.right - self.left

    def y_day(self, value: int) -> float:
        return self.bottom - value / self.day_ticks[-1] * (self.bottom - self.top)

    def y_cumulative(self, value: int) -> float:
        return self.bottom - value / self.cumulative_ticks[-1] * (self.bottom - self.top)

    def x_centre(self, i: int) -> float:
        return self.left + self.slot * (i + 0.5)


def _daily_plot(points: Sequence[DayPoint], *, top: float, width: int) -> _DailyPlot:
    """The plot below the legend, between the two axes' labels, as wide as their longest tick needs; a
    narrow chart's plot is less tall, so that it still fits a phone's screen with its legend."""
    day_max = max(max(p.total, sum(p.by_operation.values())) for p in points)
    day_ticks = nice_ticks(day_max)
    cumulative_ticks = nice_ticks(max(p.cumulative for p in points))
    left = svg.EDGE + max(svg.text_width(f"{t:,}") for t in day_ticks) + 8
    right = width - (svg.EDGE + max(svg.text_width(f"{t:,}") for t in cumulative_ticks) + 10)
    slot = (right - left) / len(points)
    return _DailyPlot(
        left=left,
        right=right,
        top=top,
        bottom=top + min(260.0, width * 0.625),
        day_ticks=day_ticks,
        cumulative_ticks=cumulative_ticks,
        slot=slot,
        bar_w=min(slot * 0.72, 48.0),
    )


def _day_grid(plot: _DailyPlot) -> list[Markup]:
    return [
        svg.tag(
            "line",
            {
                "data-axis": "daily",
                "data-tick": t,
                "x1": plot.left,
                "x2": plot.right,
                "y1": plot.y_day(t),
                "y2": plot.y_day(t),
                "stroke": svg.GRID if t else svg.AXIS,
                "stroke-width": 1,
            },
        )
        for t in plot.day_ticks
    ]


def _cumulative_axis(plot: _DailyPlot) -> list[Markup]:
    """The right axis: its line, a tick and a label at each step."""
    right = plot.right
    return [
        svg.tag(
            "line",
            {
                "x1": right,
                "x2": right,
                "y1": plot.top,
                "y2": plot.bottom,
                "stroke": svg.AXIS,
                "stroke-width": 1,
            },
        ),
        *(
            svg.tag(
                "line",
                {
                    "data-axis": "cumulative",
                    "data-tick": t,
                    "x1": right,
                    "x2": right + 5,
                    "y1": plot.y_cumulative(t),
                    "y2": plot.y_cumulative(t),
                    "stroke": svg.AXIS,
                    "stroke-width": 1,
                },
            )
            for t in plot.cumulative_ticks
        ),
        *(
            svg.text(right + 8, plot.y_cumulative(t) + 4, f"{t:,}", anchor="start")
            for t in plot.cumulative_ticks
        ),
    ]


def _bars_as_paths(
    plot: _DailyPlot, points: Sequence[DayPoint], series: Sequence[tuple[str, str]], paints: Sequence[str]
) -> list[Markup]:
    """Each operation's bars as one path. A year of days stacked six deep is thousands of rectangles
    otherwise; the hover titles go, and the table under the chart has every value."""
    # Formatted once, not per bar: a dashboard draws this chart twice (wide, and for phones).
    across, back = svg.num(plot.bar_w), svg.num(-plot.bar_w)
    lefts = [svg.num(plot.x_centre(i) - plot.bar_w / 2) for i in range(len(points))]
    below = [0] * len(points)  # each day's stack under the operation being drawn
    bars = []
    for j, (code, name) in enumerate(series):
        steps = []
        for i, p in enumerate(points):
            value = p.by_operation.get(code, 0)
            if value > 0:
                top, bottom = plot.y_day(below[i] + value), plot.y_day(below[i])
                steps.append(f"M{lefts[i]} {svg.num(top)}h{across}V{svg.num(bottom)}h{back}Z")
            below[i] += value
        if steps:
            bars.append(
                svg.tag(
                    "path",
                    {"data-operation": code, "d": "".join(steps), "fill": paints[j]},
                    svg.tag("title", {}, name),
                )
            )
    return bars


def _bars_as_rects(
    plot: _DailyPlot, points: Sequence[DayPoint], series: Sequence[tuple[str, str]], paints: Sequence[str]
) -> list[Markup]:
    """Each day's stack of bars, one element per operation with its value as a tooltip."""
    bars = []
    for i, p in enumerate(points):
        base = 0
        for j, (code, name) in enumerate(series):
            value = p.by_operation.get(code, 0)
            if value <= 0:
                continue
            top, bottom = plot.y_day(base + value), plot.y_day(base)
            bars.append(
                svg.tag(
                    "rect",
                    {
                        "data-value": value,
                        "data-day": p.day.isoformat(),
                        "data-operation": code,
                        "x": plot.x_centre(i) - plot.bar_w / 2,
                        "y": top,
                        "width": plot.bar_w,
                        "height": bottom - top,
                        "fill": paints[j],
                        "stroke": "#ffffff",
                        "stroke-width": 0.5,
                    },
                    svg.tag("title", {}, f"{_month_day(p)} {name} {value:,}人"),
                )
            )
            base += value
    return bars


def _day_labels(plot: _DailyPlot, points: Sequence[DayPoint]) -> list[Markup]:
    """A tick and the date under every day, or every week or few when the days are many."""
    labels = []
    for i in range(0, len(points), _label_every(len(points), plot.width)):
        x = plot.x_centre(i)
        labels.append(
            svg.tag("line", {"x1": x, "x2": x, "y1": plot.bottom, "y2": plot.bottom + 4, "stroke": svg.AXIS})
        )
        labels.append(svg.text(x, plot.bottom + 18, _month_day(points[i]), anchor="middle"))
    return labels


def _cumulative_line(plot: _DailyPlot, points: Sequence[DayPoint]) -> list[Markup]:
    """The person-days so far as a black line on a white halo, with a dot per day where the days are
    wide enough to tell apart."""
    line_points = " ".join(
        f"{svg.num(plot.x_centre(i))},{svg.num(plot.y_cumulative(p.cumulative))}"
        for i, p in enumerate(points)
    )
    line_attrs = {
        "points": line_points,
        "fill": "none",
        "stroke-linejoin": "round",
        "stroke-linecap": "round",
    }
    cumulative = [
        svg.tag("polyline", {**line_attrs, "stroke": "#ffffff", "stroke-width": 5}),
        svg.tag(
            "polyline",
            {
                **line_attrs,
                "data-series": "cumulative",
                "data-value": points[-1].cumulative,
                "stroke": "#000000",
                "stroke-width": 2,
            },
        ),
    ]
    if plot.slot >= 8 or len(points) == 1:
        cumulative += [
            svg.tag(
                "circle",
                {
                    "cx": plot.x_centre(i),
                    "cy": plot.y_cumulative(p.cumulative),
                    "r": 3,
                    "fill": "#000000",
                    "stroke": "#ffffff",
                    "stroke-width": 1,
                },
            )
            for i, p in enumerate(points)
        ]
    return cumulative


def _daily_summary(points: Sequence[DayPoint], series: Sequence[tuple[str, str]], title: str) -> str:
    """What the chart shows, in words, for screen readers."""
    names = "・".join(name for _, name in series)
    peak = max(points, key=lambda p: p.total)
    return (
        f"{title}。{format_period(points[0].day, points[-1].day)}の日別派遣人数（{names}の積み上げ棒）"
        f"と{CUMULATIVE}（折れ線）。1日の最多は{format_short(peak.day)}の{peak.total:,}人、"
        f"{format_short(points[-1].day)}までの{CUMULATIVE}は{points[-1].cumulative:,}人。"
    )


def bar_chart(
    rows: Sequence[tuple[str, int]], *, title: str, unit: str = "人", limit: int = 10, width: int = _WIDTH
) -> Markup:
    """Horizontal bars in the order given (biggest first), at most ``limit`` of them, the rest summed
    into one bar 「その他」, each labelled with its value at the bar's end."""
    if limit < 1:
        raise ValueError("limit must be at least 1")
    if not rows:
        return svg.empty("bar", title, width)
    shown = list(rows[:limit])
    if len(rows) > limit:
        shown.append((OTHER, sum(value for _, value in rows[limit:])))
    other_id = svg.pattern_ids("bar", title, (shown, unit, width), 1)[0]

    labels = [svg.truncate(label, width * 0.275) for label, _ in shown]
    values = [f"{value:,}{unit}" for _, value in shown]
    left = svg.EDGE + max(svg.text_width(label) for label in labels) + 10
    right = width - (svg.EDGE + max(svg.text_width(v) for v in values) + 8)
    maximum = max(value for _, value in shown)
    ticks = [t for t in nice_ticks(maximum) if t <= maximum]

    heading, title_bottom = svg.title(title, width)
    tick_font = _TICK_FONT if width >= _WIDTH else svg.FONT
    row_h = 26
    bar_h = 16
    top = title_bottom + 20
    bottom = top + row_h * len(shown)
    height = bottom + 30

    def x_of(value: int) -> float:
        return left + (value / maximum * (right - left) if maximum > 0 else 0)

    grid = []
    for t in ticks:
        x = x_of(t)
        grid.append(
            svg.tag(
                "line",
                {
                    "data-tick": t,
                    "x1": x,
                    "x2": x,
                    "y1": top - 4,
                    "y2": bottom,
                    "stroke": svg.GRID if t else svg.AXIS,
                    "stroke-width": 1,
                },
            )
        )
        grid.append(svg.text(x, bottom + 16, f"{t:,}", anchor="middle", size=tick_font))

    bars = []
    for i, ((label, value), short, value_text) in enumerate(zip(shown, labels, values, strict=True)):
        y = top + row_h * i + (row_h - bar_h) / 2
        is_other = len(rows) > limit and i == len(shown) - 1
        fill = svg.paint(_OTHER_BAR, other_id) if is_other else _BAR
        end = x_of(value)
        bars.append(
            svg.tag(
                "g",
                {},
                svg.tag("title", {}, f"{label} {value_text}"),
                svg.text(left - 8, y + bar_h / 2 + 4, short, anchor="end"),
                svg.tag(
                    "rect",
                    {
                        "data-value": value,
                        "data-label": label,
                        "x": left,
                        "y": y,
                        "width": end - left,
                        "height": bar_h,
                        "fill": fill,
                    },
                ),
                svg.text(end + 5, y + bar_h / 2 + 4, value_text, anchor="start", weight="bold"),
            )
        )

    summary = (
        f"{title}。"
        + "、".join(f"{label} {value}" for (label, _), value in zip(shown, values, strict=True))
        + "。"
    )
    return svg.root(
        "bar",
        summary,
        width,
        height,
        svg.defs([_OTHER_BAR], [other_id]) if len(rows) > limit else Markup(""),
        heading,
        *grid,
        *bars,
    )


def for_screens(draw: Callable[[int], Markup]) -> Markup:
    """The chart ``draw(width)`` draws, for wide screens and again ``PHONE_WIDTH`` wide; the stylesheet
    (app.css, its phone section) shows the one that fits the screen."""
    return Markup('<div class="chart-wide">{}</div><div class="chart-narrow">{}</div>').format(
        draw(_WIDTH), draw(PHONE_WIDTH)
    )


def _label_every(n: int, plot_w: float) -> int:
    """Days between x-axis labels: every day for a short series, else whole weeks, as few as keep the
    labels from touching."""
    fits = max(1, int(plot_w // (svg.text_width("12/31") + 14)))
    if n <= min(10, fits):
        return 1
    weeks = 1
    while math.ceil(n / (7 * weeks)) > fits:
        weeks += 1
    return 7 * weeks


def _month_day(point: DayPoint) -> str:
    return f"{point.day.month}/{point.day.day}"

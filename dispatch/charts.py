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

import hashlib
import math
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

from .totals import DayPoint
from .wareki import format_period, format_short

__all__ = ["PHONE_WIDTH", "bar_chart", "daily_chart", "for_screens", "nice_ticks"]

SVG_NS = "http://www.w3.org/2000/svg"
NO_DATA = "データがありません"
OTHER = "その他"
CUMULATIVE = "累計延べ人数"

_WIDTH = 800
# About what a phone's screen gives a chart (a 360-390 px screen less the page's margins), so that 12 units
# show at 12 px or more.
PHONE_WIDTH = 320
_EDGE = 16
_FONT = 12
_TICK_FONT = 11  # the bar chart's axis figures, where the wide chart has room for them smaller
_TITLE_FONT = 16
_TITLE_LINE = 20
_TEXT = "#222222"
_GRID = "#d0d0d0"
_AXIS = "#333333"


@dataclass(frozen=True)
class _Fill:
    """A series fill: a colour, and optionally hatching so greys that print alike still differ."""

    colour: str
    ink: str | None = None  # hatching colour; None for a plain fill
    angle: int = 45
    dots: bool = False


# Neighbours differ in lightness, and those of similar lightness differ in hatching, so stacked
# segments stay apart in a greyscale print.
_PALETTE: tuple[_Fill, ...] = (
    _Fill("#1f4e79"),
    _Fill("#a6cee3"),
    _Fill("#e08a2c", ink="#5a2e00", angle=45),
    _Fill("#4d4d4d", ink="#ffffff", dots=True),
    _Fill("#f3e3a0", ink="#6b5a00", angle=-45),
    _Fill("#2e7d32", ink="#ffffff", angle=90),
    _Fill("#d9c2e6", ink="#3f1f5a", angle=0),
    _Fill("#8c2d04", ink="#ffffff", angle=-45),
)
_BAR = "#2f5f8f"
_OTHER_BAR = _Fill("#c8c8c8", ink="#555555", angle=45)


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
        return _empty("daily", title, width)
    listed = [code for code, _ in operations]
    unlisted = sorted({code for p in points for code in p.by_operation} - set(listed))
    series = [*operations, *((code, code) for code in unlisted)]
    fills = [_PALETTE[i % len(_PALETTE)] for i in range(len(series))]
    fill_ids = _ids("daily", title, (points, series, width), len(series))

    legend_items = [
        _legend_swatch(fill, fill_id, name)
        for fill, fill_id, (_, name) in zip(fills, fill_ids, series, strict=True)
    ]
    legend_items.append(_legend_line(f"{CUMULATIVE}（右目盛）"))
    heading, title_bottom = _title(title, width)
    legend, legend_bottom = _legend(legend_items, top=title_bottom + 18, width=width)

    plot = _daily_plot(points, top=legend_bottom + 30, width=width)
    paints = [_paint(fill, fill_id) for fill, fill_id in zip(fills, fill_ids, strict=True)]
    draw_bars = _bars_as_paths if len(points) > ONE_ELEMENT_PER_BAR_UP_TO else _bars_as_rects
    return _svg(
        "daily",
        _daily_summary(points, series, title),
        width,
        plot.bottom + 34,
        _defs(fills, fill_ids),
        heading,
        legend,
        _text(_EDGE, plot.top - 12, "日別人数（人）", anchor="start"),
        _text(width - _EDGE, plot.top - 12, f"{CUMULATIVE}（人）", anchor="end"),
        _tag("g", {}, *_day_grid(plot)),
        _tag("g", {"data-series": "bars"}, *draw_bars(plot, points, series, paints)),
        *(_text(plot.left - 6, plot.y_day(t) + 4, f"{t:,}", anchor="end") for t in plot.day_ticks),
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
    left = _EDGE + max(_text_width(f"{t:,}") for t in day_ticks) + 8
    right = width - (_EDGE + max(_text_width(f"{t:,}") for t in cumulative_ticks) + 10)
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
        _tag(
            "line",
            {
                "data-axis": "daily",
                "data-tick": t,
                "x1": plot.left,
                "x2": plot.right,
                "y1": plot.y_day(t),
                "y2": plot.y_day(t),
                "stroke": _GRID if t else _AXIS,
                "stroke-width": 1,
            },
        )
        for t in plot.day_ticks
    ]


def _cumulative_axis(plot: _DailyPlot) -> list[Markup]:
    """The right axis: its line, a tick and a label at each step."""
    right = plot.right
    return [
        _tag(
            "line",
            {"x1": right, "x2": right, "y1": plot.top, "y2": plot.bottom, "stroke": _AXIS, "stroke-width": 1},
        ),
        *(
            _tag(
                "line",
                {
                    "data-axis": "cumulative",
                    "data-tick": t,
                    "x1": right,
                    "x2": right + 5,
                    "y1": plot.y_cumulative(t),
                    "y2": plot.y_cumulative(t),
                    "stroke": _AXIS,
                    "stroke-width": 1,
                },
            )
            for t in plot.cumulative_ticks
        ),
        *(
            _text(right + 8, plot.y_cumulative(t) + 4, f"{t:,}", anchor="start")
            for t in plot.cumulative_ticks
        ),
    ]


def _bars_as_paths(
    plot: _DailyPlot, points: Sequence[DayPoint], series: Sequence[tuple[str, str]], paints: Sequence[str]
) -> list[Markup]:
    """Each operation's bars as one path. A year of days stacked six deep is thousands of rectangles
    otherwise; the hover titles go, and the table under the chart has every value."""
    # Formatted once, not per bar: a dashboard draws this chart twice (wide, and for phones).
    across, back = _num(plot.bar_w), _num(-plot.bar_w)
    lefts = [_num(plot.x_centre(i) - plot.bar_w / 2) for i in range(len(points))]
    below = [0] * len(points)  # each day's stack under the operation being drawn
    bars = []
    for j, (code, name) in enumerate(series):
        steps = []
        for i, p in enumerate(points):
            value = p.by_operation.get(code, 0)
            if value > 0:
                top, bottom = plot.y_day(below[i] + value), plot.y_day(below[i])
                steps.append(f"M{lefts[i]} {_num(top)}h{across}V{_num(bottom)}h{back}Z")
            below[i] += value
        if steps:
            bars.append(
                _tag(
                    "path",
                    {"data-operation": code, "d": "".join(steps), "fill": paints[j]},
                    _tag("title", {}, name),
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
                _tag(
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
                    _tag("title", {}, f"{_month_day(p)} {name} {value:,}人"),
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
            _tag("line", {"x1": x, "x2": x, "y1": plot.bottom, "y2": plot.bottom + 4, "stroke": _AXIS})
        )
        labels.append(_text(x, plot.bottom + 18, _month_day(points[i]), anchor="middle"))
    return labels


def _cumulative_line(plot: _DailyPlot, points: Sequence[DayPoint]) -> list[Markup]:
    """The person-days so far as a black line on a white halo, with a dot per day where the days are
    wide enough to tell apart."""
    line_points = " ".join(
        f"{_num(plot.x_centre(i))},{_num(plot.y_cumulative(p.cumulative))}" for i, p in enumerate(points)
    )
    line_attrs = {
        "points": line_points,
        "fill": "none",
        "stroke-linejoin": "round",
        "stroke-linecap": "round",
    }
    cumulative = [
        _tag("polyline", {**line_attrs, "stroke": "#ffffff", "stroke-width": 5}),
        _tag(
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
            _tag(
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
        return _empty("bar", title, width)
    shown = list(rows[:limit])
    if len(rows) > limit:
        shown.append((OTHER, sum(value for _, value in rows[limit:])))
    other_id = _ids("bar", title, (shown, unit, width), 1)[0]

    labels = [_truncate(label, width * 0.275) for label, _ in shown]
    values = [f"{value:,}{unit}" for _, value in shown]
    left = _EDGE + max(_text_width(label) for label in labels) + 10
    right = width - (_EDGE + max(_text_width(v) for v in values) + 8)
    maximum = max(value for _, value in shown)
    ticks = [t for t in nice_ticks(maximum) if t <= maximum]

    heading, title_bottom = _title(title, width)
    tick_font = _TICK_FONT if width >= _WIDTH else _FONT
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
            _tag(
                "line",
                {
                    "data-tick": t,
                    "x1": x,
                    "x2": x,
                    "y1": top - 4,
                    "y2": bottom,
                    "stroke": _GRID if t else _AXIS,
                    "stroke-width": 1,
                },
            )
        )
        grid.append(_text(x, bottom + 16, f"{t:,}", anchor="middle", size=tick_font))

    bars = []
    for i, ((label, value), short, value_text) in enumerate(zip(shown, labels, values, strict=True)):
        y = top + row_h * i + (row_h - bar_h) / 2
        is_other = len(rows) > limit and i == len(shown) - 1
        fill = _paint(_OTHER_BAR, other_id) if is_other else _BAR
        end = x_of(value)
        bars.append(
            _tag(
                "g",
                {},
                _tag("title", {}, f"{label} {value_text}"),
                _text(left - 8, y + bar_h / 2 + 4, short, anchor="end"),
                _tag(
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
                _text(end + 5, y + bar_h / 2 + 4, value_text, anchor="start", weight="bold"),
            )
        )

    summary = (
        f"{title}。"
        + "、".join(f"{label} {value}" for (label, _), value in zip(shown, values, strict=True))
        + "。"
    )
    return _svg(
        "bar",
        summary,
        width,
        height,
        _defs([_OTHER_BAR], [other_id]) if len(rows) > limit else Markup(""),
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


def _empty(kind: str, title: str, width: int) -> Markup:
    return Markup(
        _tag(
            "svg",
            {
                "xmlns": SVG_NS,
                "data-chart": kind,
                "data-empty": "true",
                "role": "img",
                "aria-label": f"{title}：{NO_DATA}",
                "viewBox": f"0 0 {width} 48",
                "width": "100%",
                "font-family": "sans-serif",
            },
            _tag("title", {}, f"{title}：{NO_DATA}"),
            _tag(
                "rect",
                {"x": 0.5, "y": 0.5, "width": width - 1, "height": 47, "fill": "#ffffff", "stroke": _GRID},
            ),
            _text(width / 2, 29, NO_DATA, anchor="middle", size=14),
        )
    )


def _svg(kind: str, summary: str, width: int, height: float, *children: Markup) -> Markup:
    return _tag(
        "svg",
        {
            "xmlns": SVG_NS,
            "data-chart": kind,
            "role": "img",
            "aria-label": summary,
            "viewBox": f"0 0 {width} {_num(height)}",
            "width": "100%",
            "font-family": "sans-serif",
            "font-size": _FONT,
            "fill": _TEXT,
        },
        _tag("title", {}, summary),
        *children,
    )


def _title(title: str, width: int) -> tuple[Markup, float]:
    """The title, on as many lines as the width needs; returns it and the baseline of its last line."""
    lines = _wrap(title, width - 2 * _EDGE, _TITLE_FONT)
    baselines = [24.0 + _TITLE_LINE * i for i in range(len(lines))]
    drawn = [
        _text(_EDGE, y, line, anchor="start", size=_TITLE_FONT, weight="bold")
        for y, line in zip(baselines, lines, strict=True)
    ]
    return Markup("").join(drawn), baselines[-1]


# A title breaks after a closing bracket or a comma, or before an opening bracket, where it can.
_BREAK_AFTER = frozenset("）)、・")
_BREAK_BEFORE = frozenset("（(")


def _wrap(text: str, width: float, size: int) -> list[str]:
    lines = []
    while _text_width(text, size) > width:
        fits = 1
        while fits < len(text) and _text_width(text[: fits + 1], size) <= width:
            fits += 1
        breaks = [
            i
            for i in range(1, fits + 1)
            if text[i - 1] in _BREAK_AFTER or (i < len(text) and text[i] in _BREAK_BEFORE)
        ]
        cut = breaks[-1] if breaks else fits
        lines.append(text[:cut])
        text = text[cut:]
    return [*lines, text]


def _legend_swatch(fill: _Fill, fill_id: str, name: str) -> tuple[float, Markup]:
    swatch = _tag(
        "rect",
        {
            "x": 0,
            "y": -10,
            "width": 14,
            "height": 14,
            "fill": _paint(fill, fill_id),
            "stroke": _AXIS,
            "stroke-width": 0.5,
        },
    )
    return 20 + _text_width(name), _tag("g", {}, swatch, _text(20, 2, name, anchor="start"))


def _legend_line(name: str) -> tuple[float, Markup]:
    line = {"x1": 0, "x2": 24, "y1": -3, "y2": -3, "stroke-linecap": "round"}
    return 30 + _text_width(name), _tag(
        "g",
        {},
        _tag("line", {**line, "stroke": "#ffffff", "stroke-width": 5}),
        _tag("line", {**line, "stroke": "#000000", "stroke-width": 2}),
        _tag(
            "circle", {"cx": 12, "cy": -3, "r": 3, "fill": "#000000", "stroke": "#ffffff", "stroke-width": 1}
        ),
        _text(30, 2, name, anchor="start"),
    )


def _legend(items: Sequence[tuple[float, Markup]], *, top: float, width: int) -> tuple[Markup, float]:
    """Legend entries left to right, wrapping onto new rows; returns the legend and its bottom edge."""
    gap = 20
    row_h = 20
    x, y = float(_EDGE), top
    placed = []
    for item_width, item in items:
        if x > _EDGE and x + item_width > width - _EDGE:
            x, y = float(_EDGE), y + row_h
        placed.append(_tag("g", {"transform": f"translate({_num(x)},{_num(y + 10)})"}, item))
        x += item_width + gap
    return _tag("g", {"data-legend": "true"}, *placed), y + row_h


def _defs(fills: Sequence[_Fill], ids: Sequence[str]) -> Markup:
    patterns = []
    for fill, fill_id in zip(fills, ids, strict=True):
        if fill.ink is None:
            continue
        if fill.dots:
            marks = _tag("circle", {"cx": 3, "cy": 3, "r": 1.2, "fill": fill.ink})
        else:
            marks = _tag(
                "line", {"x1": 0, "y1": 0, "x2": 0, "y2": 6, "stroke": fill.ink, "stroke-width": 1.5}
            )
        patterns.append(
            _tag(
                "pattern",
                {
                    "id": fill_id,
                    "width": 6,
                    "height": 6,
                    "patternUnits": "userSpaceOnUse",
                    "patternTransform": f"rotate({fill.angle})",
                },
                _tag("rect", {"width": 6, "height": 6, "fill": fill.colour}),
                marks,
            )
        )
    return _tag("defs", {}, *patterns) if patterns else Markup("")


def _paint(fill: _Fill, fill_id: str) -> str:
    return f"url(#{fill_id})" if fill.ink is not None else fill.colour


def _ids(kind: str, title: str, data: object, count: int) -> list[str]:
    """Pattern ids unique to this chart's content and width, so several charts on one page (a phone's copy
    beside the wide one, too) keep their own fills while the same input still draws the same SVG."""
    digest = hashlib.blake2s(repr((kind, title, data)).encode(), digest_size=4).hexdigest()
    return [f"chart-{digest}-{i}" for i in range(count)]


def _label_every(n: int, plot_w: float) -> int:
    """Days between x-axis labels: every day for a short series, else whole weeks, as few as keep the
    labels from touching."""
    fits = max(1, int(plot_w // (_text_width("12/31") + 14)))
    if n <= min(10, fits):
        return 1
    weeks = 1
    while math.ceil(n / (7 * weeks)) > fits:
        weeks += 1
    return 7 * weeks


def _month_day(point: DayPoint) -> str:
    return f"{point.day.month}/{point.day.day}"


def _text(
    x: float, y: float, content: str, *, anchor: str, size: int = _FONT, weight: str | None = None
) -> Markup:
    attrs: dict[str, object] = {"x": x, "y": y, "text-anchor": anchor}
    if size != _FONT:
        attrs["font-size"] = size
    if weight is not None:
        attrs["font-weight"] = weight
    return _tag("text", attrs, content)


def _text_width(text: str, size: int = _FONT) -> float:
    """Rough drawn width: full-width (Japanese) characters are one em, others about 0.6 em."""
    return sum(size if unicodedata.east_asian_width(ch) in "WFA" else size * 0.6 for ch in text)


def _truncate(text: str, width: float) -> str:
    if _text_width(text) <= width:
        return text
    while text and _text_width(text + "…") > width:
        text = text[:-1]
    return text + "…"


def _num(value: float) -> str:
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


def _attribute(value: object) -> str:
    # Numbers need no escaping, and a daily chart of a year has thousands of them.
    if isinstance(value, float):
        return _num(value)
    if isinstance(value, int):
        return str(value)
    return str(escape(str(value)))


def _tag(name: str, attrs: Mapping[str, object], *children: Markup | str) -> Markup:
    """One element; attribute values and text children are escaped, Markup children kept as built."""
    attr_text = "".join(f' {key}="{_attribute(value)}"' for key, value in attrs.items())
    if not children:
        return Markup(f"<{name}{attr_text}/>")
    inner = "".join(str(escape(child)) for child in children)
    return Markup(f"<{name}{attr_text}>{inner}</{name}>")

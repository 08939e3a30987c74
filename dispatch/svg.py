"""The SVG the charts are drawn with: elements, text, titles, legends and hatched fills.

Split from charts.py so that charts.py says what each chart shows (which figures, which axes, what a
screen reader hears) and this module how anything is drawn; nothing here knows of disasters, dates or
person-days. Pages run behind a Content-Security-Policy that allows no inline styles, so everything is
presentation attributes; a fill may carry hatching so that greys that print alike still differ.

Sizes are in drawing units: text is ``FONT`` units tall, and widths are estimated (``text_width``), since
the server has no fonts to measure with.
"""

from __future__ import annotations

import hashlib
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

SVG_NS = "http://www.w3.org/2000/svg"
NO_DATA = "データがありません"

EDGE = 16  # the margin round a drawing
FONT = 12
TITLE_FONT = 16
TITLE_LINE = 20
TEXT = "#222222"
GRID = "#d0d0d0"
AXIS = "#333333"


@dataclass(frozen=True)
class Fill:
    """A series fill: a colour, and optionally hatching so greys that print alike still differ."""

    colour: str
    ink: str | None = None  # hatching colour; None for a plain fill
    angle: int = 45
    dots: bool = False


def root(kind: str, summary: str, width: int, height: float, *children: Markup) -> Markup:
    """The ``<svg>`` element of a chart of this kind: ``role="img"`` with ``summary`` as what a screen reader
    says, scaling to its box."""
    return tag(
        "svg",
        {
            "xmlns": SVG_NS,
            "data-chart": kind,
            "role": "img",
            "aria-label": summary,
            "viewBox": f"0 0 {width} {num(height)}",
            "width": "100%",
            "font-family": "sans-serif",
            "font-size": FONT,
            "fill": TEXT,
        },
        tag("title", {}, summary),
        *children,
    )


def empty(kind: str, title: str, width: int) -> Markup:
    """A chart of this kind with nothing to draw: a box saying so."""
    return Markup(
        tag(
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
            tag("title", {}, f"{title}：{NO_DATA}"),
            tag(
                "rect",
                {"x": 0.5, "y": 0.5, "width": width - 1, "height": 47, "fill": "#ffffff", "stroke": GRID},
            ),
            text(width / 2, 29, NO_DATA, anchor="middle", size=14),
        )
    )


def title(title: str, width: int) -> tuple[Markup, float]:
    """The title, on as many lines as the width needs; returns it and the baseline of its last line."""
    lines = wrap(title, width - 2 * EDGE, TITLE_FONT)
    baselines = [24.0 + TITLE_LINE * i for i in range(len(lines))]
    drawn = [
        text(EDGE, y, line, anchor="start", size=TITLE_FONT, weight="bold")
        for y, line in zip(baselines, lines, strict=True)
    ]
    return Markup("").join(drawn), baselines[-1]


# A title breaks after a closing bracket or a comma, or before an opening bracket, where it can.
_BREAK_AFTER = frozenset("）)、・")
_BREAK_BEFORE = frozenset("（(")


def wrap(content: str, width: float, size: int) -> list[str]:
    lines = []
    while text_width(content, size) > width:
        fits = 1
        while fits < len(content) and text_width(content[: fits + 1], size) <= width:
            fits += 1
        breaks = [
            i
            for i in range(1, fits + 1)
            if content[i - 1] in _BREAK_AFTER or (i < len(content) and content[i] in _BREAK_BEFORE)
        ]
        cut = breaks[-1] if breaks else fits
        lines.append(content[:cut])
        content = content[cut:]
    return [*lines, content]


def legend_swatch(fill: Fill, fill_id: str, name: str) -> tuple[float, Markup]:
    """A legend entry for a filled series: its swatch and its name; returns its width and the entry."""
    swatch = tag(
        "rect",
        {
            "x": 0,
            "y": -10,
            "width": 14,
            "height": 14,
            "fill": paint(fill, fill_id),
            "stroke": AXIS,
            "stroke-width": 0.5,
        },
    )
    return 20 + text_width(name), tag("g", {}, swatch, text(20, 2, name, anchor="start"))


def legend_line(name: str) -> tuple[float, Markup]:
    """A legend entry for a line series, black on a white halo with a dot; returns its width and the entry."""
    line = {"x1": 0, "x2": 24, "y1": -3, "y2": -3, "stroke-linecap": "round"}
    return 30 + text_width(name), tag(
        "g",
        {},
        tag("line", {**line, "stroke": "#ffffff", "stroke-width": 5}),
        tag("line", {**line, "stroke": "#000000", "stroke-width": 2}),
        tag(
            "circle", {"cx": 12, "cy": -3, "r": 3, "fill": "#000000", "stroke": "#ffffff", "stroke-width": 1}
        ),
        text(30, 2, name, anchor="start"),
    )


def legend(items: Sequence[tuple[float, Markup]], *, top: float, width: int) -> tuple[Markup, float]:
    """Legend entries left to right, wrapping onto new rows; returns the legend and its bottom edge."""
    gap = 20
    row_h = 20
    x, y = float(EDGE), top
    placed = []
    for item_width, item in items:
        if x > EDGE and x + item_width > width - EDGE:
            x, y = float(EDGE), y + row_h
        placed.append(tag("g", {"transform": f"translate({num(x)},{num(y + 10)})"}, item))
        x += item_width + gap
    return tag("g", {"data-legend": "true"}, *placed), y + row_h


def defs(fills: Sequence[Fill], ids: Sequence[str]) -> Markup:
    """The hatching patterns of the fills that have any, each under its id."""
    patterns = []
    for fill, fill_id in zip(fills, ids, strict=True):
        if fill.ink is None:
            continue
        if fill.dots:
            marks = tag("circle", {"cx": 3, "cy": 3, "r": 1.2, "fill": fill.ink})
        else:
            marks = tag("line", {"x1": 0, "y1": 0, "x2": 0, "y2": 6, "stroke": fill.ink, "stroke-width": 1.5})
        patterns.append(
            tag(
                "pattern",
                {
                    "id": fill_id,
                    "width": 6,
                    "height": 6,
                    "patternUnits": "userSpaceOnUse",
                    "patternTransform": f"rotate({fill.angle})",
                },
                tag("rect", {"width": 6, "height": 6, "fill": fill.colour}),
                marks,
            )
        )
    return tag("defs", {}, *patterns) if patterns else Markup("")


def paint(fill: Fill, fill_id: str) -> str:
    """What a ``fill`` attribute says for the fill: its pattern, or its plain colour."""
    return f"url(#{fill_id})" if fill.ink is not None else fill.colour


def pattern_ids(kind: str, title: str, data: object, count: int) -> list[str]:
    """Pattern ids unique to this chart's content and width, so several charts on one page (a phone's copy
    beside the wide one, too) keep their own fills while the same input still draws the same SVG."""
    digest = hashlib.blake2s(repr((kind, title, data)).encode(), digest_size=4).hexdigest()
    return [f"chart-{digest}-{i}" for i in range(count)]


def text(
    x: float, y: float, content: str, *, anchor: str, size: int = FONT, weight: str | None = None
) -> Markup:
    attrs: dict[str, object] = {"x": x, "y": y, "text-anchor": anchor}
    if size != FONT:
        attrs["font-size"] = size
    if weight is not None:
        attrs["font-weight"] = weight
    return tag("text", attrs, content)


def text_width(content: str, size: int = FONT) -> float:
    """Rough drawn width: full-width (Japanese) characters are one em, others about 0.6 em."""
    return sum(size if unicodedata.east_asian_width(ch) in "WFA" else size * 0.6 for ch in content)


def truncate(content: str, width: float) -> str:
    """The text, cut with an ellipsis where it would be drawn wider than ``width``."""
    if text_width(content) <= width:
        return content
    while content and text_width(content + "…") > width:
        content = content[:-1]
    return content + "…"


def num(value: float) -> str:
    """A coordinate as short text: at most two decimals, no trailing zeros, never "-0"."""
    shown = f"{value:.2f}".rstrip("0").rstrip(".")
    return "0" if shown == "-0" else shown


def _attribute(value: object) -> str:
    # Numbers need no escaping, and a daily chart of a year has thousands of them.
    if isinstance(value, float):
        return num(value)
    if isinstance(value, int):
        return str(value)
    return str(escape(str(value)))


def tag(name: str, attrs: Mapping[str, object], *children: Markup | str) -> Markup:
    """One element; attribute values and text children are escaped, Markup children kept as built."""
    attr_text = "".join(f' {key}="{_attribute(value)}"' for key, value in attrs.items())
    if not children:
        return Markup(f"<{name}{attr_text}/>")
    inner = "".join(str(escape(child)) for child in children)
    return Markup(f"<{name}{attr_text}>{inner}</{name}>")

"""Person-days as of a date, by operation, destination, sender and duty: the page and its JSON."""

from __future__ import annotations

import re

from flask import Blueprint, Response, jsonify, render_template, request

from ..closing import closed_dates
from ..intervals import (
    Interval,
    fiscal_year_interval,
    interval_headline,
    interval_json,
    interval_totals,
    month_interval,
)
from ..models import Disaster
from ..persons import Window, has_roster, with_persons
from ..totals import Dimension, headline, totals
from ..wareki import format_fiscal_year
from ..web import QueryArgs, as_of_from_request, disaster_or_404, visible_filter

bp = Blueprint("totals", __name__)

PAGE_DIMENSIONS = (Dimension.OPERATION, Dimension.DESTINATION, Dimension.SENDER, Dimension.DUTY)


@bp.get("/disasters/<slug>/totals")
def totals_page(slug: str) -> str | tuple[str, int]:
    disaster = disaster_or_404(slug)
    interval, problems = interval_from_request()
    if interval is not None or problems:
        return _interval_page(disaster, interval, problems)
    as_of, error = as_of_from_request()
    tables = {dim: totals(disaster, as_of, dim, visible_filter()) for dim in PAGE_DIMENSIONS}
    if has_roster(disaster.id):  # one query for a disaster without people
        window = Window(as_of, None, visible_filter().visible_to)
        tables = {dim: with_persons(disaster, table, window) for dim, table in tables.items()}
    person_days, active = headline(disaster, as_of, visible_filter())
    closed = closed_dates(disaster)
    return render_template(
        "totals.html",
        disaster=disaster,
        as_of=as_of,
        as_of_closed=as_of in closed,
        last_closed=max((d for d in closed if d <= as_of), default=None),
        as_of_error=error,
        person_days=person_days,
        persons=tables[Dimension.OPERATION].persons,
        active=active,
        tables=tables,
    )


@bp.get("/disasters/<slug>/totals.json")
def totals_json(slug: str) -> Response | tuple[Response, int]:
    disaster = disaster_or_404(slug)
    interval, problems = interval_from_request()
    if problems:
        return jsonify({"error": "\n".join(problems)}), 400
    as_of, error = as_of_from_request()
    if error:
        return jsonify({"error": error}), 400
    by = request.args.get("by", Dimension.OPERATION.value)
    if by not in {d.value for d in Dimension}:
        choices = ", ".join(d.value for d in Dimension)
        return jsonify({"error": f"by は {choices} のいずれかです。"}), 400
    if interval is not None:
        table = interval_totals(disaster, interval, Dimension(by), visible_filter())
        table = with_persons(
            disaster, table, Window(interval.end, interval.start, visible_filter().visible_to)
        )
        return jsonify(interval_json(table, interval))
    table = totals(disaster, as_of, Dimension(by), visible_filter())
    return jsonify(with_persons(disaster, table, Window(as_of, None, visible_filter().visible_to)).as_json())


_MONTH = re.compile(r"(\d{4})-(\d{1,2})")
_YEAR = re.compile(r"\d{4}")


def interval_from_request() -> tuple[Interval | None, list[str]]:
    """?from=&to= (both included), ?month=YYYY-MM or ?fy=YYYY (年度: April to March); None without any,
    and the Japanese messages for what does not parse or is reversed."""
    args = QueryArgs()
    month, fy = args.text("month"), args.text("fy")
    if month is not None:
        found = _MONTH.fullmatch(month)
        if found is None or not 1 <= int(found[2]) <= 12:
            return None, [f"月「{month}」は 2023-08 の形で指定してください。"]
        return month_interval(int(found[1]), int(found[2])), []
    if fy is not None:
        if _YEAR.fullmatch(fy) is None or not 1989 <= int(fy) <= 2100:
            return None, [f"年度「{fy}」は 2023 の形（4月に始まる年）で指定してください。"]
        return fiscal_year_interval(int(fy)), []
    start, end = args.date_range("from", "to")
    problems = list(args.errors.values())
    if problems or (start is None and end is None):
        return None, problems
    if start is None or end is None:
        return None, ["期間は開始日（from）と終了日（to）の両方を指定してください。"]
    return Interval(start, end), []


def _interval_page(
    disaster: Disaster, interval: Interval | None, problems: list[str]
) -> str | tuple[str, int]:
    if interval is None:
        return render_template(
            "totals_interval.html", disaster=disaster, interval=None, problems=problems
        ), 400
    tables = {dim: interval_totals(disaster, interval, dim, visible_filter()) for dim in PAGE_DIMENSIONS}
    person_days, _ = interval_headline(disaster, interval, visible_filter())
    return render_template(
        "totals_interval.html",
        disaster=disaster,
        interval=interval,
        fiscal_year=format_fiscal_year(interval.start) if interval == _fiscal(interval) else None,
        problems=[],
        person_days=person_days,
        tables=tables,
    )


def _fiscal(interval: Interval) -> Interval:
    start = interval.start
    return fiscal_year_interval(start.year if start.month >= 4 else start.year - 1)

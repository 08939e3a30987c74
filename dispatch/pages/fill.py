"""Fill (充足): the page, fill.json (a date, or a fiscal year for 中長期) and the CSV/Excel exports of the
fill and of the requests."""

from __future__ import annotations

import json
import re

from flask import Blueprint, current_app, jsonify, render_template
from flask_login import current_user
from werkzeug.wrappers import Response

from .. import clock
from ..access import visible_to
from ..fill import fill_on, long_term_fill
from ..web import QueryArgs, disaster_or_404

bp = Blueprint("fill", __name__)

_YEAR = re.compile(r"\d{4}")


def fiscal_year_arg(args: QueryArgs) -> int | None:
    value = args.text("fiscal_year")
    if value is None:
        return None
    if _YEAR.fullmatch(value) is None or not 1989 <= int(value) <= 2100:
        args.errors["fiscal_year"] = f"年度「{value}」は 2024 の形（4月に始まる年）で指定してください。"
        return None
    return int(value)


@bp.get("/disasters/<slug>/fill.json")
def fill_json(slug: str) -> Response | tuple[Response, int]:
    disaster = disaster_or_404(slug)
    args = QueryArgs()
    day = args.date("date")
    fiscal_year = fiscal_year_arg(args)
    if args.errors:
        return jsonify({"error": "\n".join(args.errors.values())}), 400
    org = visible_to(current_user)
    if fiscal_year is not None:
        return jsonify(long_term_fill(disaster, fiscal_year, day, org).as_json())
    # ?by=request adds each request's own figures (several requests on one destination × duty split by
    # their links); read only when asked, as thousands of requests are in force on a day at national scale.
    by_request = args.text("by") == "request"
    fill = fill_on(disaster, day or clock.today(), org, by_request=by_request)
    # Thousands of rows at national scale: written in the keys' own order, without jsonify's sorting.
    body = json.dumps(fill.as_json(), separators=(",", ":"))
    return current_app.response_class(body, mimetype="application/json")


@bp.get("/disasters/<slug>/fill")
def fill_page(slug: str) -> tuple[str, int]:
    disaster = disaster_or_404(slug)
    args = QueryArgs()
    day = args.date("date") or clock.today()
    fiscal_year = fiscal_year_arg(args)
    org = visible_to(current_user)
    return render_template(
        "requests/fill.html",
        disaster=disaster,
        day=day,
        fill=fill_on(disaster, day, org, by_request=True),
        fiscal_year=fiscal_year,
        long_term=None
        if fiscal_year is None
        else long_term_fill(disaster, fiscal_year, args.date("date"), org),
        errors=args.errors,
    ), 400 if args.errors else 200

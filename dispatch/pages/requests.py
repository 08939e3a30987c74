"""Requests (要請) and fill (充足): the fill as JSON and as a page, the request list and its forms."""

from __future__ import annotations

import re

from flask import Blueprint, jsonify
from flask_login import current_user
from werkzeug.wrappers import Response

from .. import clock
from ..access import visible_to
from ..fill import fill_on, long_term_fill
from ..web import QueryArgs, disaster_or_404

bp = Blueprint("requests", __name__)

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
    return jsonify(fill_on(disaster, day or clock.today(), org).as_json())

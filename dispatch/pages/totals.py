"""Person-days as of a date, by operation, destination, sender and duty: the page and its JSON."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify, render_template, request

from ..closing import closed_dates
from ..totals import Dimension, headline, totals
from ..web import as_of_from_request, disaster_or_404, visible_filter

bp = Blueprint("totals", __name__)

PAGE_DIMENSIONS = (Dimension.OPERATION, Dimension.DESTINATION, Dimension.SENDER, Dimension.DUTY)


@bp.get("/disasters/<slug>/totals")
def totals_page(slug: str) -> str:
    disaster = disaster_or_404(slug)
    as_of, error = as_of_from_request()
    tables = {dim: totals(disaster, as_of, dim, visible_filter()) for dim in PAGE_DIMENSIONS}
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
        active=active,
        tables=tables,
    )


@bp.get("/disasters/<slug>/totals.json")
def totals_json(slug: str) -> Response | tuple[Response, int]:
    disaster = disaster_or_404(slug)
    as_of, error = as_of_from_request()
    if error:
        return jsonify({"error": error}), 400
    by = request.args.get("by", Dimension.OPERATION.value)
    if by not in {d.value for d in Dimension}:
        choices = ", ".join(d.value for d in Dimension)
        return jsonify({"error": f"by は {choices} のいずれかです。"}), 400
    return jsonify(totals(disaster, as_of, Dimension(by), visible_filter()).as_json())

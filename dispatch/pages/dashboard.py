"""The list of disasters, and the division's daily view: headline figures, charts with their tables, cross tables, and the status
report in the prefecture's own format. Every figure states its as-of date and links to its entries."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from flask import Blueprint, render_template

from .. import charts
from ..catalog import disasters_newest_first
from ..closing import closed_dates
from ..models import Disaster
from ..query import EntryFilter
from ..reports import status_report
from ..totals import Dimension, Totals, cross_table, daily_series, headline, totals
from ..web import as_of_from_request, disaster_or_404, visible_filter

bp = Blueprint("dashboard", __name__)

# Rows of a table, and rows and columns of a cross table, shown on the page before the rest is summed.
TOP = 20


@dataclass(frozen=True)
class Headline:
    as_of: date
    person_days: int
    active: int
    senders: int
    destinations: int
    closed_days: int
    provisional_days: int
    as_of_closed: bool


def _headline(
    disaster: Disaster, as_of: date, flt: EntryFilter, senders: Totals, destinations: Totals
) -> Headline:
    person_days, active = headline(disaster, as_of, flt)
    days = {date.fromisoformat(row.key) for row in totals(disaster, as_of, Dimension.DATE, flt).rows}
    closed = closed_dates(disaster)
    return Headline(
        as_of=as_of,
        person_days=person_days,
        active=active,
        senders=len(senders.rows),
        destinations=len(destinations.rows),
        closed_days=len(days & closed),
        provisional_days=len(days - closed),
        as_of_closed=as_of in closed,
    )


@bp.get("/")
def index() -> str:
    return render_template("index.html", disasters=disasters_newest_first())


@bp.get("/disasters/<slug>/")
def overview(slug: str) -> str:
    disaster = disaster_or_404(slug)
    as_of, as_of_error = as_of_from_request()
    flt = visible_filter()
    by_destination = totals(disaster, as_of, Dimension.DESTINATION, flt)
    by_sender = totals(disaster, as_of, Dimension.SENDER, flt)
    by_duty = totals(disaster, as_of, Dimension.DUTY, flt)
    known = (by_destination, by_sender, by_duty)
    series = daily_series(disaster, as_of, flt)
    operations = [(op.code, op.name) for op in disaster.operations]
    return render_template(
        "dashboard.html",
        disaster=disaster,
        as_of=as_of,
        as_of_error=as_of_error,
        head=_headline(disaster, as_of, flt, by_sender, by_destination),
        series=series,
        operations=operations,
        by_operation=totals(disaster, as_of, Dimension.OPERATION, flt),
        by_destination=by_destination,
        by_sender=by_sender,
        daily_chart=charts.daily_chart(
            series, operations, title="日ごとの派遣人数（派遣区分別）と累計延べ人数"
        ),
        destination_chart=charts.bar_chart(
            [(r.name, r.person_days) for r in by_destination.rows], title="派遣先別の累計延べ人数"
        ),
        sender_chart=charts.bar_chart(
            [(r.name, r.person_days) for r in by_sender.rows], title="派遣元別の延べ人数（上位）"
        ),
        # A national disaster has some 1,800 senders and destinations: the page shows the biggest and
        # sums the rest as その他; the Excel export has more, and its entries sheet every pair.
        top=TOP,
        destination_by_duty=cross_table(
            disaster, as_of, Dimension.DESTINATION, Dimension.DUTY, flt, limit=TOP, known=known
        ),
        sender_by_destination=cross_table(
            disaster, as_of, Dimension.SENDER, Dimension.DESTINATION, flt, limit=TOP, known=known
        ),
    )


@bp.get("/disasters/<slug>/report")
def report(slug: str) -> str:
    disaster = disaster_or_404(slug)
    as_of, as_of_error = as_of_from_request()
    result = status_report(disaster, as_of, as_of in closed_dates(disaster, [as_of]), visible_filter())
    return render_template(
        "report.html", disaster=disaster, as_of=as_of, as_of_error=as_of_error, report=result
    )

"""The list of disasters, and the division's daily view: headline figures, charts with their tables, cross tables, and the status
report in the prefecture's own format. Every figure states its as-of date and links to its entries. The dashboard
and the report are also drawn as A4 PDFs from the same templates, for the division that files paper."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from flask import Blueprint, Response, current_app, render_template, request
from flask_login import current_user

from .. import charts, clock
from ..catalog import disasters_newest_first
from ..closing import closed_dates
from ..disagreements import disagreements
from ..exports import last_entry_date
from ..field import ending_soon
from ..models import Disaster
from ..persons import Window, has_roster, with_persons
from ..query import EntryFilter
from ..reports import status_report
from ..request_board import board
from ..totals import Dimension, Totals, by_sender_kind, cross_table, daily_series, headline, totals
from ..viewpoint import viewpoint_of
from ..wareki import format_long
from ..web import as_of_from_request, disaster_or_404, visible_filter

bp = Blueprint("dashboard", __name__)

# Rows of a table, and rows and columns of a cross table, shown on the page before the rest is summed.
TOP = 20

# A refused PDF: the error page and its status.
Refused = tuple[str, int]


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


def _entries_ended(disaster: Disaster, flt: EntryFilter, today: date) -> date | None:
    """The last day with entries when it is before today: the day the dashboard opens on when no date is
    asked for, rather than today with nothing on it once the dispatches are over."""
    last = last_entry_date(disaster, flt)
    return last if last is not None and last < today else None


@bp.get("/")
def index() -> str:
    return render_template("index.html", disasters=disasters_newest_first())


@bp.get("/disasters/<slug>/")
def overview(slug: str) -> str:
    return render_template("dashboard.html", **_overview(slug))


@bp.get("/disasters/<slug>/dashboard.pdf")
def overview_pdf(slug: str) -> Response | Refused:
    context = _overview(slug)
    if context["as_of_error"]:
        return _refused(context["as_of_error"])
    # Landscape: the cross tables run up to TOP columns across.
    return _pdf("dashboard.html", "派遣状況ダッシュボード", slug, "dashboard", pdf_wide=True, **context)


def _overview(slug: str) -> dict[str, Any]:
    """What the dashboard shows, for the page and its PDF alike."""
    disaster = disaster_or_404(slug)
    as_of, as_of_error = as_of_from_request()
    flt = visible_filter()
    ended = None if "as_of" in request.args else _entries_ended(disaster, flt, as_of)
    as_of = ended or as_of
    by_destination = totals(disaster, as_of, Dimension.DESTINATION, flt)
    by_sender = totals(disaster, as_of, Dimension.SENDER, flt)
    viewpoint = viewpoint_of(disaster)
    by_duty = totals(disaster, as_of, Dimension.DUTY, flt)
    known = (by_destination, by_sender, by_duty)
    series = daily_series(disaster, as_of, flt)
    operations = [(op.code, op.name) for op in disaster.operations]
    return dict(
        disaster=disaster,
        as_of=as_of,
        as_of_error=as_of_error,
        entries_ended=ended,
        today=clock.today(),
        head=_headline(disaster, as_of, flt, by_sender, by_destination),
        request_board=board(disaster, as_of, flt.visible_to),
        series=series,
        operations=operations,
        by_operation=totals(disaster, as_of, Dimension.OPERATION, flt),
        roster=_roster(disaster, as_of, flt),
        by_destination=by_destination,
        by_sender=by_sender,
        # The senders regrouped by kind relative to the own organisation (自団体, 県内市町村 …).
        viewpoint=viewpoint,
        by_sender_kind=by_sender_kind(by_sender, viewpoint),
        daily_chart=charts.for_screens(
            lambda width: charts.daily_chart(
                series, operations, title="日ごとの派遣人数（派遣区分別）と累計延べ人数", width=width
            )
        ),
        destination_chart=charts.for_screens(
            lambda width: charts.bar_chart(
                [(r.name, r.person_days) for r in by_destination.rows],
                title="派遣先別の累計延べ人数",
                width=width,
            )
        ),
        sender_chart=charts.for_screens(
            lambda width: charts.bar_chart(
                [(r.name, r.person_days) for r in by_sender.rows],
                title="派遣元別の延べ人数（上位）",
                width=width,
            )
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


def _roster(disaster: Disaster, as_of: date, flt: EntryFilter) -> dict[str, Any] | None:
    """実人数, the teams ending soon with no successor and the days whose roster and typed headcounts disagree
    (those this user may see); None (one query) for a disaster without teams."""
    if not has_roster(disaster.id):
        return None
    table = with_persons(
        disaster, totals(disaster, as_of, Dimension.OPERATION, flt), Window(as_of, None, flt.visible_to)
    )
    return {
        "persons": table.persons,
        "ending": ending_soon(disaster, as_of, current_user),
        "disagreements": disagreements(disaster.id, flt.visible_to),
    }


@bp.get("/disasters/<slug>/report")
def report(slug: str) -> str:
    return render_template("report.html", **_report(slug))


@bp.get("/disasters/<slug>/report.pdf")
def report_pdf(slug: str) -> Response | Refused:
    context = _report(slug)
    if context["as_of_error"]:
        return _refused(context["as_of_error"])
    return _pdf("report.html", "状況報告", slug, "report", **context)


def _report(slug: str) -> dict[str, Any]:
    disaster = disaster_or_404(slug)
    as_of, as_of_error = as_of_from_request()
    result = status_report(disaster, as_of, as_of in closed_dates(disaster, [as_of]), visible_filter())
    return dict(disaster=disaster, as_of=as_of, as_of_error=as_of_error, report=result)


def _refused(as_of_error: str) -> Refused:
    # A page falls back to today on a date it cannot read; paper with a date nobody asked for would mislead.
    return render_template("error.html", title="PDFを作成できません", message=f"時点: {as_of_error}"), 400


def _pdf(template: str, title: str, slug: str, kind: str, **context: Any) -> Response:
    """The page's template drawn as an A4 PDF, shown in the browser; only app.css is read while drawing."""
    # WeasyPrint loads pango and takes over a second to import: only a PDF pays for it, not every process
    # that imports the pages (each command, the scheduler, every worker as it starts).
    from .. import pdf

    as_of: date = context["as_of"]
    html = render_template(template, layout="pdf.html", pdf_title=title, **context)
    static = pdf.StaticFilesOnly(
        request.url_root + (current_app.static_url_path or "/static").strip("/") + "/",
        current_app.static_folder or "",
    )
    response = Response(pdf.draw(html, static), mimetype=pdf.PDF_MIMETYPE)
    response.headers["Content-Disposition"] = pdf.inline(
        f"{title}_{format_long(as_of)}時点.pdf", f"{slug}_{kind}_{as_of.isoformat()}.pdf"
    )
    return response

"""Which request an entry fills, where several match (request_links.py): for one request and one day, the
entries of its destination × duty with their links, and the choice, most often the whole day's unassigned
entries at once.

HQ links any request's entries; a municipality only those of its own body's requests (the entries that go
to it), as it may enter its own requests.
"""

from __future__ import annotations

from datetime import date

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from werkzeug.wrappers import Response

from .. import clock
from ..access import visible_to
from ..errors import Refusal
from ..extensions import db
from ..fill import unassigned_days
from ..models import Disaster
from ..request_links import day_choice, link_entries, unassigned_entry_ids, unlink_entries
from ..request_models import StaffRequest
from ..requests import may_see, within_period
from ..web import QueryArgs, current_actor, disaster_or_404, parse_id, write, writes

bp = Blueprint("request_links", __name__)

ACTIONS = ("link", "unlink", "link_unassigned")


def _own_request(slug: str, request_id: int) -> tuple[Disaster, StaffRequest]:
    disaster = disaster_or_404(slug)
    own = visible_to(current_user)
    item = db.session.get(StaffRequest, request_id)
    if item is None or item.disaster_id != disaster.id or not may_see(item, own):
        abort(404)
    if own is not None and item.requester_id != own:
        abort(403)  # a body covering the request sees it, but only the requester chooses its entries
    if item.long_term or item.duty_id is None:
        abort(404)
    return disaster, item


def _default_day(item: StaffRequest) -> date:
    """The first day with unassigned entries; else today within the period, else its first day."""
    waiting = unassigned_days(item)
    if waiting:
        return waiting[0][0]
    today = clock.today()
    return today if within_period(item, today) else item.revisions[0].date_from


def _render(
    disaster: Disaster, item: StaffRequest, day: date, errors: dict[str, str], status: int = 200
) -> tuple[str, int]:
    return render_template(
        "requests/links.html",
        disaster=disaster,
        item=item,
        day=day,
        choice=day_choice(item, day),
        waiting=unassigned_days(item),
        errors=errors,
    ), status


@bp.get("/disasters/<slug>/requests/<int:request_id>/links")
def links_page(slug: str, request_id: int) -> tuple[str, int]:
    disaster, item = _own_request(slug, request_id)
    args = QueryArgs()
    day = args.date("date") or _default_day(item)
    return _render(disaster, item, day, args.errors, 400 if args.errors else 200)


@bp.post("/disasters/<slug>/requests/<int:request_id>/links")
@writes
def link_entries_page(slug: str, request_id: int) -> Response | tuple[str, int]:
    disaster, item = _own_request(slug, request_id)
    form = QueryArgs(request.form)
    day = form.date("date")
    if day is None:
        form.errors.setdefault("date", "日付を指定してください。")
        return _render(disaster, item, _default_day(item), form.errors, 422)
    action = request.form.get("action", "")
    texts = request.form.getlist("entry")
    ids = [parse_id(text) for text in texts]
    if action not in ACTIONS:
        form.errors["entry"] = "操作を選んでください。"
    elif any(n is None for n in ids):
        form.errors["entry"] = "派遣の番号が読めません。"
    if form.errors:
        return _render(disaster, item, day, form.errors, 422)
    chosen = [n for n in ids if n is not None]
    if action == "link_unassigned":
        chosen = unassigned_entry_ids(item, day)
        if not chosen:
            return _render(disaster, item, day, {"entry": "この日に未割当の派遣はありません。"}, 422)
    try:
        if action == "unlink":
            changed = write(lambda: unlink_entries(item, chosen, current_actor()))
        else:
            changed = write(lambda: link_entries(item, chosen, current_actor()))
    except Refusal as refusal:
        return _render(disaster, item, day, {"entry": str(refusal)}, refusal.status)
    if action == "unlink":
        flash(f"{changed}件の派遣の割当を外しました。", "success")
    else:
        flash(f"{changed}件の派遣を要請{item.number}に割り当てました。", "success")
    return redirect(url_for(".links_page", slug=slug, request_id=item.id, date=day.isoformat()))

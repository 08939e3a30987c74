"""Digests: any digest previewed without sending, the deliveries page with its test mail, and the banner
of failed deliveries with its acknowledgement."""

from __future__ import annotations

from dataclasses import dataclass

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from markupsafe import Markup
from werkzeug.wrappers import Response
from wtforms import StringField
from wtforms.validators import InputRequired

from .. import clock, delivery, digest, mail
from ..access import visible_to
from ..deliveries import STATUS_LABELS, delivery_list, unacknowledged_failures
from ..deliveries import acknowledge_failures as acknowledge
from ..errors import Refusal
from ..forms import JapaneseForm, organisation_datalist
from ..lookup import LookupRefused, find_organisation
from ..models import Delivery, Organisation, Role
from ..recipients import DIVISION_LABEL
from ..security import safe_next
from ..web import QueryArgs, current_actor, parse_id, write, writes
from .recipients import ConfirmForm, email_check

bp = Blueprint("digests", __name__)

DELIVERIES_SHOWN = 200
BANNER_SHOWN = 20
# Those who see the failure banner are those who may acknowledge it.
BANNER_ROLES = frozenset({Role.ADMIN, Role.REVIEWER})


class TestMailForm(JapaneseForm):
    to = StringField(
        "宛先",
        validators=[InputRequired(message="宛先のメールアドレスを入力してください。"), email_check],
    )


@bp.get("/digests/preview")
def preview() -> tuple[str, int] | str:
    """A digest as it would be sent, without sending; `org` omitted or "division": the division's summary."""
    own = visible_to(current_user)
    args = QueryArgs()
    org_text = args.text("org") or ""
    digest_date = args.date("date") or clock.today()
    errors = (
        [f"日付「{args.text('date')}」を読めません: {args.errors['date']}"] if "date" in args.errors else []
    )

    organisation: Organisation | None = None
    if org_text in ("", "division"):
        if own is not None:
            # A municipality previews its own digest; the division's summary is not its to read.
            if org_text == "division":
                abort(403)
            organisation = current_user.organisation
    else:
        try:
            organisation = find_organisation(org_text)
        except LookupRefused as refusal:
            unknown = f"団体「{org_text}」が見つかりません。団体コード（例: 053619）を指定してください。"
            errors.append(str(refusal) if refusal.candidates else unknown)
        if organisation is not None and own is not None and organisation.id != own:
            abort(403)

    context = {
        "organisation": organisation,
        "digest_date": digest_date,
        "org_text": organisation.code if organisation else org_text,
        "date_text": digest_date.isoformat() if not errors else (args.text("date") or ""),
        "may_choose": own is None,
        "organisations": organisation_datalist() if own is None else Markup(""),
        "errors": errors,
        "target": organisation.label if organisation else DIVISION_LABEL,
        "division_label": DIVISION_LABEL,
    }
    if errors:
        return render_template("mail/preview.html", message=None, **context), 400
    return render_template("mail/preview.html", message=digest.preview(organisation, digest_date), **context)


@bp.route("/admin/deliveries", methods=["GET"])
def deliveries() -> str:
    args = QueryArgs()
    day = args.date("date")
    status = args.text("status") or ""
    if status and status not in STATUS_LABELS:
        args.errors["status"] = "状態は 送信済み・失敗・送信中 から選んでください。"
        status = ""
    total, rows = delivery_list(day, status or None, DELIVERIES_SHOWN)
    return render_template(
        "mail/deliveries.html",
        rows=rows,
        total=total,
        shown=DELIVERIES_SHOWN,
        day=day,
        date_text=args.text("date") or "",
        status=status,
        errors=args.errors,
        status_labels=STATUS_LABELS,
        test_form=TestMailForm(formdata=None),
    )


@bp.post("/admin/deliveries/test-mail")
def test_mail() -> Response:
    """Nothing is written: the test mail is sent without the write lock."""
    form = TestMailForm()
    if not form.validate_on_submit():
        flash(" ".join(form.to.errors) or "宛先を確認してください。", "error")
        return redirect(url_for(".deliveries"))
    to = form.to.data or ""
    try:
        mail.send_test_mail(to)
    except mail.MailError as exc:
        flash(f"テストメールを送れませんでした: {exc}", "error")
    else:
        flash(f"テストメールを {to} に送りました。届いたか確認してください。", "success")
    return redirect(url_for(".deliveries"))


@bp.post("/admin/deliveries/<int:delivery_id>/resend")
def resend_delivery(delivery_id: int) -> Response:
    """今すぐ再送: one failed digest sent again now, once, and audited.

    Not declared @writes: like the scheduler's retries, the delivery ledger writes the claim, then the
    outcome with its audit record, in short transactions of its own (delivery.py), and holds no write lock
    while the mail server answers.
    """
    if not ConfirmForm().validate_on_submit():
        abort(400)
    actor = current_actor()
    try:
        result = delivery.resend_now(delivery_id, actor, worker=f"web {actor.name}")
    except (Refusal, mail.MailError) as exc:
        flash(f"再送できませんでした: {exc}", "error")
    else:
        if result.ok:
            flash("日報を再送しました。", "success")
        else:
            flash(f"再送しましたが、送信に失敗しました: {result.errors[0].error}", "error")
    return redirect(url_for(".deliveries"))


@dataclass(frozen=True)
class FailureBanner:
    total: int
    shown: list[Delivery]


@bp.app_template_global("delivery_failures")
def delivery_failures() -> FailureBanner | None:
    """Failed digests nobody has acknowledged yet, for the dashboard's banner (None: nothing to show)."""
    if not current_user.is_authenticated or current_user.user_role not in BANNER_ROLES:
        return None
    total, shown = unacknowledged_failures(BANNER_SHOWN)
    return FailureBanner(total=total, shown=shown) if total else None


@bp.post("/deliveries/acknowledge")
@writes
def acknowledge_failures() -> Response:
    """Mark as seen exactly the failures the banner showed (a newer failure keeps the banner up)."""
    if not ConfirmForm().validate_on_submit():
        abort(400)
    ids = [number for value in request.form.getlist("delivery") if (number := parse_id(value)) is not None]
    count = write(lambda: acknowledge(ids, current_actor()))
    flash(f"配信の失敗{count}件を確認済みにしました。", "success")
    return redirect(safe_next(request.form.get("next")) or url_for("dashboard.index"))

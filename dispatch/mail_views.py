"""Digest recipients, previews, the deliveries page with its test mail, and the failure banner.

Thin like every blueprint: parse, call recipients.py / digest.py / mail.py, commit, redirect or render.
Who reaches which page is access.PERMISSIONS; a municipality user is further held to its own organisation.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from markupsafe import Markup
from sqlalchemy import func, select
from werkzeug.wrappers import Response
from wtforms import BooleanField, SelectChoice, SelectField, StringField
from wtforms.validators import InputRequired, Length, ValidationError

from . import clock, digest, mail
from .access import visible_to
from .extensions import db
from .forms import JapaneseForm, OrganisationField, find_organisation, organisation_datalist
from .models import Delivery, DeliveryStatus, Organisation, Recipient, Role, utcnow
from .recipients import (
    DIVISION_LABEL,
    MAX_NOTE_LENGTH,
    add_recipient,
    delete_recipient,
    list_recipients,
    normalise_email,
    set_active,
    update_recipient,
)
from .security import safe_next
from .services import DispatchError
from .wareki import WarekiError, parse_date

bp = Blueprint("mail", __name__)

STATUS_LABELS = {
    DeliveryStatus.SENT: "送信済み",
    DeliveryStatus.FAILED: "失敗",
    DeliveryStatus.SENDING: "送信中",
}
DELIVERIES_SHOWN = 200
BANNER_SHOWN = 20
# Those who see the failure banner are those who may acknowledge it.
BANNER_ROLES = frozenset({Role.ADMIN, Role.REVIEWER})


def _email_check(form: JapaneseForm, field: StringField) -> None:
    try:
        field.data = normalise_email(field.data or "")
    except DispatchError as exc:
        raise ValidationError(str(exc)) from exc


def _note_field() -> StringField:
    return StringField(
        "備考",
        validators=[
            Length(max=MAX_NOTE_LENGTH, message=f"備考は{MAX_NOTE_LENGTH}文字以内で入力してください。")
        ],
        filters=[lambda v: v.strip() if v else ""],
        description="例: 総務課防災係（課長・係長）",
    )


class RecipientForm(JapaneseForm):
    kind = SelectField(
        "配信する日報",
        choices=[SelectChoice("organisation", "団体の日報"), SelectChoice("division", DIVISION_LABEL)],
        default="organisation",
    )
    # No Optional(): it would stop the chain on an empty value, before validate_organisation below.
    organisation = OrganisationField("団体", description="団体の日報の場合は必須")
    email = StringField(
        "メールアドレス",
        validators=[InputRequired(message="メールアドレスを入力してください。"), _email_check],
    )
    note = _note_field()
    send_empty = BooleanField("報告することがない日も送る")

    def validate_organisation(self, field: OrganisationField) -> None:
        if self.kind.data == "organisation" and field.organisation is None and not field.errors:
            raise ValidationError("団体を選ぶか、団体コードを入力してください。")


class EditRecipientForm(JapaneseForm):
    note = _note_field()
    send_empty = BooleanField("報告することがない日も送る")
    active = BooleanField("配信する（有効）")


class ConfirmForm(JapaneseForm):
    """Only the CSRF token: activate, deactivate, delete, acknowledge."""


class TestMailForm(JapaneseForm):
    to = StringField(
        "宛先",
        validators=[InputRequired(message="宛先のメールアドレスを入力してください。"), _email_check],
    )


# --- recipients ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RecipientGroup:
    """One organisation's addresses (organisation None: the division's list)."""

    organisation: Organisation | None
    recipients: list[Recipient]

    @property
    def label(self) -> str:
        return self.organisation.label if self.organisation else DIVISION_LABEL


def _grouped(recipients: list[Recipient]) -> list[RecipientGroup]:
    groups: list[RecipientGroup] = []
    for recipient in recipients:
        if not groups or groups[-1].organisation is not recipient.organisation:
            groups.append(RecipientGroup(recipient.organisation, []))
        groups[-1].recipients.append(recipient)
    return groups


@bp.app_template_global("recipient_owner")
def recipient_owner(recipient: Recipient, long: bool = False) -> str:
    """Whose address it is: the organisation (with its code when long), or the division's list."""
    if recipient.organisation is None:
        return DIVISION_LABEL
    return recipient.organisation.label if long else recipient.organisation.name


def _recipient_or_404(recipient_id: int) -> Recipient:
    return db.session.get(Recipient, recipient_id) or abort(404)


@bp.route("/admin/recipients", methods=["GET", "POST"])
def recipients_admin() -> Response | str:
    form = RecipientForm()
    if form.validate_on_submit():
        organisation = form.organisation.organisation if form.kind.data == "organisation" else None
        try:
            recipient = add_recipient(
                organisation,
                form.email.data or "",
                actor=current_user.username,
                note=form.note.data or "",
                send_empty=bool(form.send_empty.data),
            )
        except DispatchError as exc:
            db.session.rollback()
            form.email.errors = [str(exc)]
        else:
            db.session.commit()
            owner = organisation.name if organisation else DIVISION_LABEL
            flash(f"{owner}の配信先に {recipient.email} を追加しました。", "success")
            return redirect(url_for(".recipients_admin"))
    return render_template(
        "mail/recipients_admin.html",
        form=form,
        groups=_grouped(list_recipients()),
        action=ConfirmForm(),
        organisations=organisation_datalist(),
        division_label=DIVISION_LABEL,
    )


@bp.route("/admin/recipients/<int:recipient_id>", methods=["GET", "POST"])
def edit_recipient(recipient_id: int) -> Response | str:
    recipient = _recipient_or_404(recipient_id)
    form = EditRecipientForm(
        data=None
        if request.method == "POST"
        else {"note": recipient.note, "send_empty": recipient.send_empty, "active": recipient.active}
    )
    if form.validate_on_submit():
        try:
            changed = update_recipient(
                recipient,
                actor=current_user.username,
                note=form.note.data or "",
                send_empty=bool(form.send_empty.data),
                active=bool(form.active.data),
            )
        except DispatchError as exc:
            db.session.rollback()
            form.note.errors = [str(exc)]
        else:
            db.session.commit()
            flash(f"{recipient.email} を更新しました。" if changed else "変更はありません。", "success")
            return redirect(url_for(".recipients_admin"))
    return render_template("mail/recipient_form.html", form=form, recipient=recipient)


@bp.post("/admin/recipients/<int:recipient_id>/active")
def toggle_recipient(recipient_id: int) -> Response:
    recipient = _recipient_or_404(recipient_id)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    active = request.form.get("active") == "1"
    set_active(recipient, active, actor=current_user.username)
    db.session.commit()
    flash(f"{recipient.email} への配信を{'再開' if active else '停止'}しました。", "success")
    return redirect(url_for(".recipients_admin"))


@bp.route("/admin/recipients/<int:recipient_id>/delete", methods=["GET", "POST"])
def delete_recipient_page(recipient_id: int) -> Response | str:
    recipient = _recipient_or_404(recipient_id)
    form = ConfirmForm()
    if form.validate_on_submit():
        email = recipient.email
        delete_recipient(recipient, actor=current_user.username)
        db.session.commit()
        flash(f"配信先 {email} を削除しました。", "success")
        return redirect(url_for(".recipients_admin"))
    deliveries = db.session.scalar(
        select(func.count(Delivery.id)).where(Delivery.recipient_id == recipient.id)
    )
    return render_template(
        "mail/recipient_delete.html", recipient=recipient, form=form, deliveries=deliveries or 0
    )


@bp.get("/recipients")
def own_recipients() -> str:
    """Read-only: a municipality its own organisation's addresses, division staff every list."""
    organisation_id = visible_to(current_user)
    return render_template(
        "mail/recipients.html",
        groups=_grouped(list_recipients(organisation_id)),
        organisation=current_user.organisation if organisation_id is not None else None,
    )


# --- preview -------------------------------------------------------------------------------------------


@bp.get("/digests/preview")
def preview() -> tuple[str, int] | str:
    """A digest as it would be sent, without sending; `org` omitted or "division": the division's summary."""
    own = visible_to(current_user)
    org_text = request.args.get("org", "").strip()
    date_text = request.args.get("date", "").strip()
    errors: list[str] = []

    digest_date = clock.today()
    if date_text:
        try:
            digest_date = parse_date(date_text)
        except WarekiError as exc:
            errors.append(f"日付「{date_text}」を読めません: {exc}")

    organisation: Organisation | None = None
    if org_text in ("", "division"):
        if own is not None:
            # A municipality previews its own digest; the division's summary is not its to read.
            if org_text == "division":
                abort(403)
            organisation = current_user.organisation
    else:
        organisation = find_organisation(org_text)
        if organisation is None:
            errors.append(f"団体「{org_text}」が見つかりません。団体コード（例: 053619）を指定してください。")
        elif own is not None and organisation.id != own:
            abort(403)

    context = {
        "organisation": organisation,
        "digest_date": digest_date,
        "org_text": organisation.code if organisation else org_text,
        "date_text": digest_date.isoformat() if not errors else date_text,
        "may_choose": own is None,
        "organisations": organisation_datalist() if own is None else Markup(""),
        "errors": errors,
        "target": organisation.label if organisation else DIVISION_LABEL,
        "division_label": DIVISION_LABEL,
    }
    if errors:
        return render_template("mail/preview.html", message=None, **context), 400
    return render_template("mail/preview.html", message=digest.preview(organisation, digest_date), **context)


# --- deliveries ----------------------------------------------------------------------------------------


@bp.route("/admin/deliveries", methods=["GET"])
def deliveries() -> str:
    errors: dict[str, str] = {}
    day: date | None = None
    date_text = request.args.get("date", "").strip()
    if date_text:
        try:
            day = parse_date(date_text)
        except WarekiError as exc:
            errors["date"] = str(exc)
    status = request.args.get("status", "")
    if status and status not in STATUS_LABELS:
        errors["status"] = "状態は 送信済み・失敗・送信中 から選んでください。"
        status = ""

    stmt = select(Delivery).join(Recipient, Delivery.recipient_id == Recipient.id)
    if day is not None:
        stmt = stmt.where(Delivery.digest_date == day)
    if status:
        stmt = stmt.where(Delivery.status == status)
    total = db.session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    rows = list(
        db.session.scalars(
            stmt.order_by(Delivery.digest_date.desc(), Delivery.claimed_at.desc(), Delivery.id.desc()).limit(
                DELIVERIES_SHOWN
            )
        )
    )
    return render_template(
        "mail/deliveries.html",
        rows=rows,
        total=total,
        shown=DELIVERIES_SHOWN,
        day=day,
        date_text=date_text,
        status=status,
        errors=errors,
        status_labels=STATUS_LABELS,
        test_form=TestMailForm(formdata=None),
    )


@bp.post("/admin/deliveries/test-mail")
def test_mail() -> Response | str:
    form = TestMailForm()
    if form.validate_on_submit():
        to = form.to.data or ""
        # Nothing is written here: give up the write lock the POST took before talking to the mail server.
        db.session.rollback()
        try:
            mail.send_test_mail(to)
        except mail.MailError as exc:
            flash(f"テストメールを送れませんでした: {exc}", "error")
        else:
            flash(f"テストメールを {to} に送りました。届いたか確認してください。", "success")
        return redirect(url_for(".deliveries"))
    flash(" ".join(form.to.errors) or "宛先を確認してください。", "error")
    return redirect(url_for(".deliveries"))


# --- failure banner ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FailureBanner:
    total: int
    shown: list[Delivery]


@bp.app_template_global("delivery_failures")
def delivery_failures() -> FailureBanner | None:
    """Failed digests nobody has acknowledged yet, for the dashboard's banner (None: nothing to show)."""
    if not current_user.is_authenticated or current_user.user_role not in BANNER_ROLES:
        return None
    unacknowledged = select(Delivery).where(
        Delivery.status == DeliveryStatus.FAILED.value, Delivery.acknowledged_at.is_(None)
    )
    total = db.session.scalar(select(func.count()).select_from(unacknowledged.subquery())) or 0
    if not total:
        return None
    shown = list(
        db.session.scalars(
            unacknowledged.order_by(Delivery.digest_date.desc(), Delivery.id).limit(BANNER_SHOWN)
        )
    )
    return FailureBanner(total=total, shown=shown)


@bp.post("/deliveries/acknowledge")
def acknowledge_failures() -> Response:
    """Mark as seen exactly the failures the banner showed (a newer failure keeps the banner up)."""
    if not ConfirmForm().validate_on_submit():
        abort(400)
    ids = [int(value) for value in request.form.getlist("delivery") if value.isdigit()]
    rows = (
        list(
            db.session.scalars(
                select(Delivery).where(
                    Delivery.id.in_(ids),
                    Delivery.status == DeliveryStatus.FAILED.value,
                    Delivery.acknowledged_at.is_(None),
                )
            )
        )
        if ids
        else []
    )
    now = utcnow()
    for row in rows:
        row.acknowledged_at = now
        row.acknowledged_by = current_user.username
    db.session.commit()
    flash(f"配信の失敗{len(rows)}件を確認済みにしました。", "success")
    return redirect(safe_next(request.form.get("next")) or url_for("dispatch.index"))

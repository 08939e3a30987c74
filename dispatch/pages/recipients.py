"""Digest recipients: the admin's list with add, edit, pause and delete, and each user's own list.

Who reaches which page is access.PERMISSIONS; a municipality user is further held to its own organisation.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from werkzeug.wrappers import Response
from wtforms import BooleanField, SelectField, StringField
from wtforms.fields.choices import SelectChoice  # type: ignore[attr-defined]  # WTForms 3.3 has it, types-WTForms 3.2 not
from wtforms.validators import InputRequired, Length, ValidationError

from ..access import visible_to
from ..deliveries import deliveries_of
from ..errors import Refusal
from ..extensions import db
from ..forms import JapaneseForm, OrganisationField, organisation_datalist
from ..models import Organisation, Recipient
from ..recipients import (
    DIVISION_LABEL,
    MAX_NOTE_LENGTH,
    add_recipient,
    delete_recipient,
    list_recipients,
    normalise_email,
    set_active,
    update_recipient,
)
from ..web import current_actor, write, writes

bp = Blueprint("recipients", __name__)


def email_check(form: JapaneseForm, field: StringField) -> None:
    try:
        field.data = normalise_email(field.data or "")
    except Refusal as exc:
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
        validators=[InputRequired(message="メールアドレスを入力してください。"), email_check],
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
@writes
def recipients_admin() -> Response | str:
    form = RecipientForm()
    if form.validate_on_submit():
        organisation = form.organisation.organisation if form.kind.data == "organisation" else None
        try:
            email = write(
                lambda: (
                    add_recipient(
                        organisation,
                        form.email.data or "",
                        actor=current_actor(),
                        note=form.note.data or "",
                        send_empty=bool(form.send_empty.data),
                    ).email
                )
            )
        except Refusal as exc:
            form.email.errors = [str(exc)]
        else:
            owner = organisation.name if organisation else DIVISION_LABEL
            flash(f"{owner}の配信先に {email} を追加しました。", "success")
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
@writes
def edit_recipient(recipient_id: int) -> Response | str:
    recipient = _recipient_or_404(recipient_id)
    form = EditRecipientForm(
        data=None
        if request.method == "POST"
        else {"note": recipient.note, "send_empty": recipient.send_empty, "active": recipient.active}
    )
    if form.validate_on_submit():
        email = recipient.email
        try:
            changed = write(
                lambda: update_recipient(
                    recipient,
                    actor=current_actor(),
                    note=form.note.data or "",
                    send_empty=bool(form.send_empty.data),
                    active=bool(form.active.data),
                )
            )
        except Refusal as exc:
            form.note.errors = [str(exc)]
        else:
            flash(f"{email} を更新しました。" if changed else "変更はありません。", "success")
            return redirect(url_for(".recipients_admin"))
    return render_template("mail/recipient_form.html", form=form, recipient=recipient)


@bp.post("/admin/recipients/<int:recipient_id>/active")
@writes
def toggle_recipient(recipient_id: int) -> Response:
    recipient = _recipient_or_404(recipient_id)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    active = request.form.get("active") == "1"
    email = recipient.email
    write(lambda: set_active(recipient, active, actor=current_actor()))
    flash(f"{email} への配信を{'再開' if active else '停止'}しました。", "success")
    return redirect(url_for(".recipients_admin"))


@bp.route("/admin/recipients/<int:recipient_id>/delete", methods=["GET", "POST"])
@writes
def delete_recipient_page(recipient_id: int) -> Response | str:
    recipient = _recipient_or_404(recipient_id)
    form = ConfirmForm()
    if form.validate_on_submit():
        email = recipient.email
        write(lambda: delete_recipient(recipient, actor=current_actor()))
        flash(f"配信先 {email} を削除しました。", "success")
        return redirect(url_for(".recipients_admin"))
    return render_template(
        "mail/recipient_delete.html", recipient=recipient, form=form, deliveries=deliveries_of(recipient)
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

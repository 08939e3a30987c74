"""User administration: list, create, change role or organisation, deactivate, reset a password."""

from __future__ import annotations

from flask import Blueprint, abort, flash, render_template, request
from sqlalchemy import select
from werkzeug.wrappers import Response
from wtforms import BooleanField, SelectField, StringField
from wtforms.fields.choices import SelectChoice  # type: ignore[attr-defined]  # WTForms 3.3 has it, types-WTForms 3.2 not
from wtforms.validators import InputRequired, Length, Optional, ValidationError

from ..accounts import create_user, reset_password, update_user
from ..errors import Refusal
from ..extensions import db
from ..forms import JapaneseForm, OrganisationField, organisation_datalist
from ..models import Role, User
from ..web import current_actor, write, writes

bp = Blueprint("admin", __name__, url_prefix="/admin")

ROLE_CHOICES = [SelectChoice(r.value, r.label) for r in Role]


class UserFields(JapaneseForm):
    display_name = StringField(
        "表示名", validators=[Optional(), Length(max=100, message="表示名は100文字以内です。")]
    )
    role = SelectField("役割", choices=ROLE_CHOICES, validators=[InputRequired()])
    # No Optional(): it would stop the chain on an empty value, before validate_organisation below.
    organisation = OrganisationField("所属団体", description="市町村ユーザーは必須")

    def validate_organisation(self, field: OrganisationField) -> None:
        if self.role.data == Role.MUNICIPALITY and field.organisation is None:
            raise ValidationError("市町村ユーザーには所属団体が必要です。")


class NewUserForm(UserFields):
    username = StringField(
        "ユーザー名",
        validators=[InputRequired(message="ユーザー名を入力してください。"), Length(max=64)],
        description="半角英数字と . _ -",
    )


class EditUserForm(UserFields):
    active = BooleanField("有効")


class ResetForm(JapaneseForm):
    """Only the CSRF token."""


@bp.get("/users")
def users() -> str:
    rows = list(db.session.scalars(select(User).order_by(User.username)))
    return render_template("admin/users.html", users=rows)


@bp.route("/users/new", methods=["GET", "POST"])
@writes
def new_user() -> Response | str:
    form = NewUserForm()
    if form.validate_on_submit():
        try:
            user, password = write(
                lambda: create_user(
                    form.username.data or "",
                    Role(form.role.data),
                    actor=current_actor(),
                    organisation=form.organisation.organisation,
                    display_name=form.display_name.data or "",
                )
            )
        except Refusal as exc:
            form.username.errors = [str(exc)]
        else:
            return render_template("admin/password_shown.html", user=user, password=password)
    return render_template(
        "admin/user_form.html", form=form, user=None, organisations=organisation_datalist()
    )


@bp.route("/users/<int:user_id>", methods=["GET", "POST"])
@writes
def edit_user(user_id: int) -> Response | str:
    user = db.session.get(User, user_id) or abort(404)
    form = EditUserForm(
        data=None
        if request.method == "POST"
        else {
            "display_name": user.display_name,
            "role": user.role,
            "organisation": user.organisation.label if user.organisation else "",
            "active": user.active,
        }
    )
    if form.validate_on_submit():
        username = user.username
        try:
            write(
                lambda: update_user(
                    user,
                    actor=current_actor(),
                    role=Role(form.role.data),
                    organisation=form.organisation.organisation,
                    display_name=form.display_name.data or "",
                    active=bool(form.active.data),
                )
            )
        except Refusal as exc:
            flash(str(exc), "error")
        else:
            flash(f"{username} を更新しました。", "success")
    return render_template(
        "admin/user_form.html", form=form, user=user, reset=ResetForm(), organisations=organisation_datalist()
    )


@bp.post("/users/<int:user_id>/reset-password")
@writes
def reset_password_view(user_id: int) -> Response | str:
    user = db.session.get(User, user_id) or abort(404)
    form = ResetForm()
    if not form.validate_on_submit():
        abort(400)
    password = write(lambda: reset_password(user, actor=current_actor()))
    return render_template("admin/password_shown.html", user=user, password=password)

"""Logging in and out, and changing one's own password."""

from __future__ import annotations

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_user, logout_user
from werkzeug.wrappers import Response
from wtforms import PasswordField, StringField
from wtforms.validators import InputRequired, Length

from ..accounts import change_own_password, find_user
from ..extensions import db, login_manager
from ..forms import JapaneseForm
from ..models import User, utcnow
from ..security import (
    ThrottlePolicy,
    clear_failures,
    login_refusal,
    password_matches,
    password_problem,
    record_failure,
    safe_next,
    throttle_keys,
)
from ..web import write, writes

bp = Blueprint("auth", __name__)


@login_manager.user_loader
def _load_user(session_id: str) -> User | None:
    user_id, _, stamp = session_id.partition(":")
    if not user_id.isdigit():
        return None
    user = db.session.get(User, int(user_id))
    if user is None or not user.active or user.get_id() != session_id:
        return None
    return user


class LoginForm(JapaneseForm):
    username = StringField(
        "ユーザー名",
        validators=[InputRequired(message="ユーザー名を入力してください。"), Length(max=64)],
        render_kw={"autocomplete": "username", "autofocus": True},
    )
    password = PasswordField(
        "パスワード",
        validators=[InputRequired(message="パスワードを入力してください。"), Length(max=256)],
        render_kw={"autocomplete": "current-password"},
    )


class ChangePasswordForm(JapaneseForm):
    current = PasswordField(
        "現在のパスワード",
        validators=[InputRequired(message="現在のパスワードを入力してください。")],
        render_kw={"autocomplete": "current-password"},
    )
    new = PasswordField(
        "新しいパスワード",
        validators=[InputRequired(message="新しいパスワードを入力してください。"), Length(max=256)],
        render_kw={"autocomplete": "new-password"},
    )
    confirm = PasswordField(
        "新しいパスワード（確認）",
        validators=[InputRequired(message="確認のため、もう一度入力してください。")],
        render_kw={"autocomplete": "new-password"},
    )


@bp.route("/login", methods=["GET", "POST"])
@writes
def login() -> Response | tuple[str, int]:
    """The password is checked without the write lock (its hash takes ~0.1 s); only the outcome is written."""
    target = safe_next(request.args.get("next")) or url_for("dashboard.index")
    if current_user.is_authenticated:
        return redirect(target)
    form = LoginForm()
    error = None
    if form.validate_on_submit():
        policy = ThrottlePolicy.from_config(current_app.config)
        keys = throttle_keys(form.username.data or "", request.remote_addr or "unknown")
        now = utcnow()
        error = login_refusal(keys, now, policy)
        if error is None:
            user = find_user(form.username.data or "")
            # Checked for an unknown name too, so that timing does not tell which names exist.
            if password_matches(user, form.password.data or "") and user is not None and user.active:
                username = user.username
                write(lambda: clear_failures(username))
                login_user(user)
                return redirect(target)
            write(lambda: record_failure(keys, now, policy))
            error = "ユーザー名またはパスワードが違います。"
    return render_template("login.html", form=form, error=error), (401 if error else 200)


@bp.post("/logout")
def logout() -> Response:
    logout_user()
    flash("ログアウトしました。", "success")
    return redirect(url_for("auth.login"))


@bp.route("/account/password", methods=["GET", "POST"])
@writes
def change_password() -> Response | str:
    form = ChangePasswordForm()
    # The user itself, not the current_user proxy: login_user below stores what it is given as the
    # request's user, and a proxy standing for itself recurses without end when next read.
    user: User = current_user._get_current_object()
    if form.validate_on_submit():
        problem = password_problem(form.new.data or "", user.username)
        if not password_matches(user, form.current.data or ""):
            form.current.errors = ["現在のパスワードが違います。"]
        elif problem:
            form.new.errors = [problem]
        elif form.new.data != form.confirm.data:
            form.confirm.errors = ["確認用のパスワードが一致しません。"]
        else:
            write(lambda: change_own_password(user, form.new.data or ""))
            # The session id carries the password's change time: log in again under the new one.
            login_user(user)
            flash("パスワードを変更しました。", "success")
            return redirect(url_for("dashboard.index"))
    return render_template("change_password.html", form=form)

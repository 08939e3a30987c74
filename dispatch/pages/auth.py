"""Logging in and out, and changing one's own password.

Every password check here (the login, the current password on the change-password form) is counted before
it is made and refused when too many failed within the window (security.begin_check, a short write of its
own); the hash then runs without any lock, and only its outcome is written, under the write lock.
"""

from __future__ import annotations

from flask import Blueprint, current_app, flash, g, redirect, render_template, request, session, url_for
from flask_login import current_user, login_user, logout_user
from werkzeug.wrappers import Response
from wtforms import PasswordField, StringField
from wtforms.validators import InputRequired, Length

from ..accounts import change_own_password, find_user
from ..extensions import db, login_manager
from ..forms import JapaneseForm
from ..models import User, utcnow
from ..security import (
    PasswordCheck,
    ThrottlePolicy,
    begin_check,
    check_failed,
    check_succeeded,
    end_sessions,
    password_matches,
    password_problem,
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


BAD_CREDENTIALS = "ユーザー名またはパスワードが違います。"
WRONG_CURRENT = "現在のパスワードが違います。"


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
        user, error = _check_login(form.username.data or "", form.password.data or "")
        if user is not None:
            _start_session(user)
            return redirect(target)
    return render_template("login.html", form=form, error=error), (401 if error else 200)


def _check_login(username: str, password: str) -> tuple[User | None, str | None]:
    """The user whose password this is, or why not."""
    check = _begin_check(username)
    if check.refusal:
        return None, check.refusal
    user = find_user(username)
    # Checked for an unknown name too, so that timing does not tell which names exist.
    if password_matches(user, password) and user is not None and user.active:
        write(lambda: check_succeeded(check))
        return user, None
    write(lambda: check_failed(check, utcnow()))
    return None, BAD_CREDENTIALS


def _begin_check(username: str) -> PasswordCheck:
    policy = ThrottlePolicy.from_config(current_app.config)
    return begin_check(throttle_keys(username, request.remote_addr or "unknown"), utcnow(), policy)


def _start_session(user: User) -> None:
    # A new session: nothing from before the login carries over, above all not a CSRF token that someone
    # could have planted in the browser before it logged in (it is made anew on the next form).
    session.clear()
    g.pop("csrf_token", None)
    login_user(user)


@bp.post("/logout")
def logout() -> Response:
    """Ends this session and every copy of it, in any browser (security.end_sessions)."""
    user: User = current_user._get_current_object()
    end_sessions(user.id)
    logout_user()
    session.clear()
    flash("ログアウトしました。", "success")
    return redirect(url_for("auth.login"))


@bp.route("/account/password", methods=["GET", "POST"])
@writes
def change_password() -> Response | str:
    """The new password is judged first; the current one is then checked and counted like a login, so a
    session left open cannot be used to guess the account's password."""
    form = ChangePasswordForm()
    # The user itself, not the current_user proxy: login_user below stores what it is given as the
    # request's user, and a proxy standing for itself recurses without end when next read.
    user: User = current_user._get_current_object()
    if form.validate_on_submit() and _new_password_acceptable(form, user.username):
        check = _begin_check(user.username)
        if check.refusal:
            form.current.errors = [check.refusal]
        elif not password_matches(user, form.current.data or ""):
            write(lambda: check_failed(check, utcnow()))
            form.current.errors = [WRONG_CURRENT]
        else:
            _change(check, user, form.new.data or "")
            flash("パスワードを変更しました。", "success")
            return redirect(url_for("dashboard.index"))
    return render_template("change_password.html", form=form)


def _new_password_acceptable(form: ChangePasswordForm, username: str) -> bool:
    problem = password_problem(form.new.data or "", username)
    if problem:
        form.new.errors = [problem]
        return False
    if form.new.data != form.confirm.data:
        form.confirm.errors = ["確認用のパスワードが一致しません。"]
        return False
    return True


def _change(check: PasswordCheck, user: User, password: str) -> None:
    def change() -> None:
        check_succeeded(check)
        change_own_password(user, password)

    write(change)
    # The session id carries the password's change time: log in again under the new one.
    login_user(user)

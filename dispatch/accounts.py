"""User accounts: create, change, deactivate, reset a password. Flush, never commit; every change audited."""

from __future__ import annotations

import re

from sqlalchemy import func, select

from . import audit
from .actors import Actor
from .errors import Refusal
from .extensions import db
from .models import Organisation, Role, User, utcnow
from .security import clear_failures, generate_password, hash_password, password_problem

USERNAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{1,63}$")


def find_user(username: str) -> User | None:
    return db.session.scalar(select(User).where(func.lower(User.username) == username.lower()))


def create_user(
    username: str,
    role: Role,
    *,
    actor: Actor,
    organisation: Organisation | None = None,
    display_name: str = "",
    password: str | None = None,
) -> tuple[User, str]:
    """The new user and its password (generated when none is given, to be shown once)."""
    if not USERNAME_PATTERN.fullmatch(username):
        raise Refusal("ユーザー名は半角英数字と . _ - で2〜64文字にしてください。")
    if find_user(username) is not None:
        raise Refusal(f"ユーザー名「{username}」は使われています。")
    if role is Role.MUNICIPALITY and organisation is None:
        raise Refusal("市町村ユーザーには所属団体が必要です。")
    password = password if password is not None else generate_password()
    problem = password_problem(password, username)
    if problem:
        raise Refusal(problem)
    user = User(
        username=username,
        display_name=display_name.strip() or username,
        role=role.value,
        organisation=organisation,
        password_hash=hash_password(password),
        active=True,
    )
    db.session.add(user)
    db.session.flush()
    audit.record("create", "user", user.id, actor=actor, after=audit.user_snapshot(user), summary=username)
    return user, password


def update_user(
    user: User,
    *,
    actor: Actor,
    role: Role,
    organisation: Organisation | None,
    display_name: str,
    active: bool,
) -> None:
    if role is Role.MUNICIPALITY and organisation is None:
        raise Refusal("市町村ユーザーには所属団体が必要です。")
    if user.username == actor.name and (not active or role is not Role.ADMIN) and user.role == Role.ADMIN:
        raise Refusal("自分自身の管理者権限は外せません（他の管理者に依頼してください）。")
    before = audit.user_snapshot(user)
    user.role = role.value
    user.organisation = organisation
    user.display_name = display_name.strip() or user.username
    user.active = active
    db.session.flush()
    after = audit.user_snapshot(user)
    if after != before:
        audit.record(
            "update", "user", user.id, actor=actor, before=before, after=after, summary=user.username
        )


def reset_password(user: User, *, actor: Actor) -> str:
    """A new generated password (shown once); old sessions end and the lock on the account is lifted."""
    password = generate_password()
    user.password_hash = hash_password(password)
    user.password_changed_at = utcnow()
    clear_failures(user.username)
    audit.record("password_reset", "user", user.id, actor=actor, summary=user.username)
    return password


def change_own_password(user: User, password: str) -> None:
    """A user's own new password (already checked against password_problem); audited."""
    user.password_hash = hash_password(password)
    user.password_changed_at = utcnow()
    actor = Actor(user.username, user.user_role)
    audit.record("password_change", "user", user.id, actor=actor, summary=user.username)

"""logout ends every copy of a session; failed logins counted within a window

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30

Issue 12. `user_account.session_version` is part of the session id (User.get_id) and every logout raises
it, so a copy of the cookie taken before the logout no longer logs anyone in. `login_throttle` counts the
failures inside the window by the minute they happened in, instead of a count that never expired
(security.py); the counts kept so far cannot be dated, so they are dropped: every account and address
starts from nothing, and a lock in force at the upgrade is lifted.
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade():
    op.execute("DELETE FROM login_throttle")
    with op.batch_alter_table("login_throttle", schema=None) as batch_op:
        batch_op.add_column(sa.Column("failures_by_minute", sa.JSON(), nullable=False))
        batch_op.create_index(batch_op.f("ix_login_throttle_last_failure_at"), ["last_failure_at"], unique=False)
        batch_op.drop_column("failures")

    with op.batch_alter_table("user_account", schema=None) as batch_op:
        batch_op.add_column(sa.Column("session_version", sa.Integer(), server_default="0", nullable=False))


def downgrade():
    with op.batch_alter_table("user_account", schema=None) as batch_op:
        batch_op.drop_column("session_version")

    op.execute("DELETE FROM login_throttle")
    with op.batch_alter_table("login_throttle", schema=None) as batch_op:
        batch_op.add_column(sa.Column("failures", sa.Integer(), nullable=False))
        batch_op.drop_index(batch_op.f("ix_login_throttle_last_failure_at"))
        batch_op.drop_column("failures_by_minute")

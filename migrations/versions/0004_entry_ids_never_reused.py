"""entry ids are never reused (SQLite AUTOINCREMENT)

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27

Without AUTOINCREMENT SQLite hands the highest deleted rowid to the next row, so a new entry could take the
id of one just deleted and show that entry's audit history as its own. PostgreSQL sequences never reuse ids.
"""

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade():
    if op.get_bind().dialect.name == "sqlite":
        with op.batch_alter_table("entry", recreate="always", table_kwargs={"sqlite_autoincrement": True}):
            pass


def downgrade():
    if op.get_bind().dialect.name == "sqlite":
        with op.batch_alter_table("entry", recreate="always", table_kwargs={"sqlite_autoincrement": False}):
            pass

"""the headcount typed by hand for a key the roster holds, kept beside the roster's

Revision ID: 0012_typed_headcount
Revises: 0011_covering_entry_indexes
Create Date: 2026-11-30

Issue 17. `entry.typed_headcount`: when the roster takes over a typed entry, or somebody edits the headcount
of a roster's entry, the typed figure is kept here while the roster's stays the counted headcount; a day
where the two differ is flagged on the dashboard and the closing page (dispatch/disagreements.py). A partial
index over the few entries that have one keeps the flag's look-up off the million others. Its CHECK is added
on PostgreSQL; on SQLite adding one would rebuild the entry table, so the model's CHECK holds there for new
databases only (as for `entry.source`, 0010).
"""

import sqlalchemy as sa
from alembic import op

revision = "0012_typed_headcount"
down_revision = "0011_covering_entry_indexes"
branch_labels = None
depends_on = None

TYPED = sa.text("typed_headcount IS NOT NULL")


def upgrade():
    with op.batch_alter_table("entry", schema=None) as batch_op:
        batch_op.add_column(sa.Column("typed_headcount", sa.Integer(), nullable=True))
        batch_op.create_index(
            "ix_entry_typed_operation_date",
            ["operation_id", "date"],
            unique=False,
            sqlite_where=TYPED,
            postgresql_where=TYPED,
        )
    if op.get_bind().dialect.name == "postgresql":
        op.create_check_constraint(
            "typed_headcount",
            "entry",
            "typed_headcount IS NULL OR (source = 'roster' AND typed_headcount BETWEEN 1 AND 10000)",
        )


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.drop_constraint(op.f("ck_entry_typed_headcount"), "entry", type_="check")
    with op.batch_alter_table("entry", schema=None) as batch_op:
        batch_op.drop_index("ix_entry_typed_operation_date", sqlite_where=TYPED, postgresql_where=TYPED)
        batch_op.drop_column("typed_headcount")

"""person-days kept in step with the entries (tally)

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-27

Totals as of any date answer from the tally instead of reading every entry (issue 7). The table is filled
from the entries already there, with the same statement `flask check-totals --rebuild` uses.
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

DIMENSIONS = {
    "A": (),
    "O": ("e.operation_id",),
    "S": ("e.sender_id",),
    "D": ("e.destination_id",),
    "U": ("e.duty_id",),
    "DU": ("e.destination_id", "e.duty_id"),
    "SD": ("e.sender_id", "e.destination_id"),
}


def upgrade():
    op.create_table(
        "tally",
        sa.Column("disaster_id", sa.Integer(), nullable=False),
        sa.Column("dim", sa.String(length=2), nullable=False),
        sa.Column("key1", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("key2", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("date", sa.Date(), nullable=False),
        sa.Column("headcount", sa.Integer(), nullable=False),
        sa.Column("person_days", sa.Integer(), nullable=False),
        sa.CheckConstraint("headcount > 0", name=op.f("ck_tally_headcount_positive")),
        sa.ForeignKeyConstraint(
            ["disaster_id"], ["disaster.id"], name=op.f("fk_tally_disaster_id_disaster"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("disaster_id", "dim", "key1", "key2", "date", name=op.f("pk_tally")),
        sqlite_with_rowid=False,
    )
    # The same statements as dispatch.tally_check.fill_statements(), copied so this revision never changes.
    for dim, columns in DIMENSIONS.items():
        keys = (*columns, "0", "0")[:2]
        group = ", ".join(("o.disaster_id", *columns))
        op.execute(
            f"INSERT INTO tally (disaster_id, dim, key1, key2, date, headcount, person_days) "
            f"SELECT o.disaster_id, '{dim}', {keys[0]}, {keys[1]}, e.date, SUM(e.headcount), "
            f"SUM(SUM(e.headcount)) OVER (PARTITION BY {group} ORDER BY e.date) "
            f"FROM entry e JOIN operation o ON o.id = e.operation_id GROUP BY {group}, e.date"
        )


def downgrade():
    op.drop_table("tally")

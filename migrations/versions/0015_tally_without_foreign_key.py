"""the tally's rows no longer name their disaster through a foreign key

Issue 11: PostgreSQL checks a foreign key row by row, with a query of its own, and an import of 100,000
entries writes some 282,000 tally rows: the check cost 0.74 s of the import's 4.55 s on the benchmark's
machine (docs/benchmarks.md). The key could never refuse a row nor cascade a delete, for the tally is
derived from the entries: a tally row exists only while entries of its key and day do (tally.py deletes a
row whose headcount falls to zero), its disaster is the entries' operation's, and the entries hold their
operation (RESTRICT), which holds its disaster. So a disaster with tally rows cannot be deleted, and a
tally row cannot be written for a disaster that does not exist. `flask check-totals` still compares the
tally with the entries.

Revision ID: 0015_tally_without_foreign_key
Revises: 0014_tally_dim_smallint
Create Date: 2026-12-01
"""

from alembic import op
import sqlalchemy as sa


revision = "0015_tally_without_foreign_key"
down_revision = "0014_tally_dim_smallint"
branch_labels = None
depends_on = None

NAME = "fk_tally_disaster_id_disaster"


def upgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.drop_constraint(NAME, "tally", type_="foreignkey")
        return
    _rebuild(with_foreign_key=False)


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.create_foreign_key(NAME, "tally", "disaster", ["disaster_id"], ["id"], ondelete="CASCADE")
        return
    _rebuild(with_foreign_key=True)


def _rebuild(*, with_foreign_key: bool) -> None:
    # SQLite cannot drop or add a constraint: a new table under the others, filled from the old.
    foreign_key = (
        [sa.ForeignKeyConstraint(["disaster_id"], ["disaster.id"], name=NAME, ondelete="CASCADE")]
        if with_foreign_key
        else []
    )
    op.create_table(
        "tally_new",
        sa.Column("disaster_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("dim", sa.SmallInteger(), nullable=False),
        sa.Column("key1", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("key2", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("date", sa.Date(), nullable=False),
        sa.Column("headcount", sa.Integer(), nullable=False),
        sa.Column("person_days", sa.Integer(), nullable=False),
        sa.CheckConstraint("headcount > 0", name=op.f("ck_tally_headcount_positive")),
        *foreign_key,
        sa.PrimaryKeyConstraint("disaster_id", "dim", "key1", "key2", "date", name=op.f("pk_tally")),
        sqlite_with_rowid=False,
    )
    op.execute(
        "INSERT INTO tally_new (disaster_id, dim, key1, key2, date, headcount, person_days) "
        "SELECT disaster_id, dim, key1, key2, date, headcount, person_days FROM tally"
    )
    op.drop_table("tally")
    op.rename_table("tally_new", "tally")

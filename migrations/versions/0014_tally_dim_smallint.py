"""the tally's dimension is a small integer, not letters

Issue 11: the totals by sender and by destination seek one tally row per organisation. With the
dimension stored as text (varchar), PostgreSQL decodes that column before it can compare the key columns
after it in every index entry it passes; as a small integer every key column has a fixed width. Measured
on the benchmark's 1,000,000 entries, the seek statement for 1,959 organisations took 40 ms instead of
85–135 ms (docs/benchmarks.md). The codes are dispatch.models.Dim's, copied here so this revision never
changes.

Revision ID: 0014_tally_dim_smallint
Revises: 0013_entry_request_link
Create Date: 2026-11-30
"""

from alembic import op
import sqlalchemy as sa


revision = "0014_tally_dim_smallint"
down_revision = "0013_entry_request_link"
branch_labels = None
depends_on = None

CODES = {"A": 1, "O": 2, "S": 3, "D": 4, "U": 5, "DU": 6, "SD": 7}


def _case(column: str, pairs: dict) -> str:
    whens = " ".join(f"WHEN {old!r} THEN {new!r}" for old, new in pairs.items())
    return f"CASE {column} {whens} END"


def upgrade():
    _convert(sa.SmallInteger(), "smallint", CODES)


def downgrade():
    _convert(sa.String(length=2), "varchar(2)", {code: letters for letters, code in CODES.items()})


def _convert(new_type, sql_type: str, pairs: dict) -> None:
    if op.get_bind().dialect.name == "postgresql":
        # One rewrite of the table; the primary key's index is rebuilt with it.
        op.execute(f"ALTER TABLE tally ALTER COLUMN dim TYPE {sql_type} USING {_case('dim', pairs)}")
        return
    # SQLite cannot change a column's type: a new table under the same constraints, filled from the old.
    op.create_table(
        "tally_new",
        sa.Column("disaster_id", sa.Integer(), nullable=False),
        sa.Column("dim", new_type, nullable=False),
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
    op.execute(
        "INSERT INTO tally_new (disaster_id, dim, key1, key2, date, headcount, person_days) "
        f"SELECT disaster_id, {_case('dim', pairs)}, key1, key2, date, headcount, person_days FROM tally"
    )
    op.drop_table("tally")
    op.rename_table("tally_new", "tally")

"""every local government and other bodies; operations end on a date, disasters close; receiving sections

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30

Issue 13.

- `organisation`: two more kinds, `special_ward` (東京都's 23 特別区) and `ward` (指定都市の区, with `parent_id`
  naming its city); `active`, so that a body with entries is deactivated rather than deleted. The bodies
  themselves are master data, loaded by `flask init-db` (masterdata.py), not here.
- `disaster.closed` (a flag) becomes `closed_on` (the date it was closed): a disaster closed before this
  revision is taken as closed on its last entry's date (its start date when it has none).
- `operation.closed` ("the period ends at its last entry") becomes `end_date`: each closed operation ends on
  its last entry's date, so every report reads as before. A closed operation without entries had no period
  to end and is open afterwards.
- `disaster_prefecture`: the prefectures a disaster struck (被災都道府県), whose side a report speaks from.
- `receiving_section`: 配属先 per operation and destination (五城目町（町災害対策本部事務局）).

SQLite rebuilds `organisation`, `disaster` and `operation` in batch mode; env.py turns SQLite's foreign keys
off for the run, so that dropping the old tables cascades into nothing, and checks them before committing.
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

KINDS = "'prefecture', 'city', 'town', 'village', 'special_ward', 'ward', 'other'"
OLD_KINDS = "'prefecture', 'city', 'town', 'village', 'other'"

# The last entry's date of a disaster, and of an operation.
DISASTER_LAST = (
    "(SELECT MAX(e.date) FROM entry e JOIN operation o ON o.id = e.operation_id WHERE o.disaster_id = disaster.id)"
)
OPERATION_LAST = "(SELECT MAX(e.date) FROM entry e WHERE e.operation_id = operation.id)"


def upgrade():
    op.create_table(
        "disaster_prefecture",
        sa.Column("disaster_id", sa.Integer(), nullable=False),
        sa.Column("organisation_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["disaster_id"],
            ["disaster.id"],
            name=op.f("fk_disaster_prefecture_disaster_id_disaster"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisation.id"],
            name=op.f("fk_disaster_prefecture_organisation_id_organisation"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("disaster_id", "organisation_id", name=op.f("pk_disaster_prefecture")),
    )
    op.create_table(
        "receiving_section",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("operation_id", sa.Integer(), nullable=False),
        sa.Column("destination_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.CheckConstraint("name <> ''", name=op.f("ck_receiving_section_name_not_empty")),
        sa.ForeignKeyConstraint(
            ["destination_id"],
            ["organisation.id"],
            name=op.f("fk_receiving_section_destination_id_organisation"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["operation_id"],
            ["operation.id"],
            name=op.f("fk_receiving_section_operation_id_operation"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_receiving_section")),
        sa.UniqueConstraint(
            "operation_id", "destination_id", name=op.f("uq_receiving_section_operation_id_destination_id")
        ),
    )

    with op.batch_alter_table("disaster", schema=None) as batch_op:
        batch_op.add_column(sa.Column("closed_on", sa.Date(), nullable=True))
    op.execute(
        f"UPDATE disaster SET closed_on = CASE WHEN {DISASTER_LAST} > start_date THEN {DISASTER_LAST} "
        "ELSE start_date END WHERE closed"
    )
    with op.batch_alter_table("disaster", schema=None) as batch_op:
        batch_op.drop_column("closed")
        batch_op.create_check_constraint("closed_after_start", "closed_on IS NULL OR closed_on >= start_date")

    with op.batch_alter_table("operation", schema=None) as batch_op:
        batch_op.add_column(sa.Column("end_date", sa.Date(), nullable=True))
    op.execute(f"UPDATE operation SET end_date = {OPERATION_LAST} WHERE closed")
    with op.batch_alter_table("operation", schema=None) as batch_op:
        batch_op.drop_column("closed")

    with op.batch_alter_table("organisation", schema=None) as batch_op:
        batch_op.add_column(sa.Column("parent_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("active", sa.Boolean(), server_default=sa.true(), nullable=False))
        batch_op.create_foreign_key(
            batch_op.f("fk_organisation_parent_id_organisation"),
            "organisation",
            ["parent_id"],
            ["id"],
            ondelete="RESTRICT",
        )
        batch_op.drop_constraint(op.f("ck_organisation_kind"), type_="check")
        batch_op.create_check_constraint("kind", f"kind IN ({KINDS})")
        batch_op.create_check_constraint("ward_has_parent", "(kind = 'ward') = (parent_id IS NOT NULL)")


def downgrade():
    # The older schema knows neither kind: a ward is part of its city and nothing refers to it; a special
    # ward is kept as a city.
    op.execute("DELETE FROM organisation WHERE kind = 'ward'")
    op.execute("UPDATE organisation SET kind = 'city' WHERE kind = 'special_ward'")
    with op.batch_alter_table("organisation", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_organisation_ward_has_parent"), type_="check")
        batch_op.drop_constraint(op.f("ck_organisation_kind"), type_="check")
        batch_op.create_check_constraint("kind", f"kind IN ({OLD_KINDS})")
        batch_op.drop_constraint(batch_op.f("fk_organisation_parent_id_organisation"), type_="foreignkey")
        batch_op.drop_column("active")
        batch_op.drop_column("parent_id")

    with op.batch_alter_table("operation", schema=None) as batch_op:
        batch_op.add_column(sa.Column("closed", sa.Boolean(), server_default=sa.false(), nullable=False))
    op.execute("UPDATE operation SET closed = (end_date IS NOT NULL)")
    with op.batch_alter_table("operation", schema=None) as batch_op:
        batch_op.alter_column("closed", server_default=None)
        batch_op.drop_column("end_date")

    with op.batch_alter_table("disaster", schema=None) as batch_op:
        batch_op.add_column(sa.Column("closed", sa.Boolean(), server_default=sa.false(), nullable=False))
    op.execute("UPDATE disaster SET closed = (closed_on IS NOT NULL)")
    with op.batch_alter_table("disaster", schema=None) as batch_op:
        batch_op.alter_column("closed", server_default=None)
        batch_op.drop_constraint(op.f("ck_disaster_closed_after_start"), type_="check")
        batch_op.drop_column("closed_on")

    op.drop_table("receiving_section")
    op.drop_table("disaster_prefecture")

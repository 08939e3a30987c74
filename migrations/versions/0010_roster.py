"""people and teams: the named roster, rotations (陣), derived entries

Revision ID: 0010_roster
Revises: 0009_requests
Create Date: 2026-11-30

Issue 17.

- `person`, `team`, `stint`: a disaster's roster, its teams (班・陣) and each member's dates in a team.
- `entry.source`: 'manual' (typed or imported) or 'roster' (derived from the team members on duty that
  day), with a partial index over the roster's entries for the 実人数 coverage check. Its CHECK is added on
  PostgreSQL; on SQLite adding one would rebuild the entry table (a million rows), so the model's CHECK
  holds there for new databases only and roster.py is the one writer of 'roster'.
- `operation.travel_days_count`: whether travel days (移動日) are person-days (default: they are).
"""

import sqlalchemy as sa
from alembic import op

revision = "0010_roster"
down_revision = "0009_requests"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "person",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("disaster_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("kana", sa.String(length=200), nullable=False),
        sa.Column("sender_id", sa.Integer(), nullable=False),
        sa.Column("sender_unit", sa.String(length=100), nullable=False),
        sa.Column("job_type", sa.String(length=50), nullable=False),
        sa.Column("position", sa.String(length=50), nullable=False),
        sa.Column("staff_kind", sa.String(length=16), nullable=False),
        sa.Column("staff_number", sa.String(length=50), nullable=False),
        sa.Column("contact", sa.String(length=200), nullable=False),
        sa.Column("removed", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("erased_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("name <> ''", name=op.f("ck_person_name_not_empty")),
        sa.CheckConstraint(
            "staff_kind IN ('prefecture', 'municipal', 'fire', 'other')", name=op.f("ck_person_staff_kind")
        ),
        sa.ForeignKeyConstraint(
            ["disaster_id"], ["disaster.id"], name=op.f("fk_person_disaster_id_disaster"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["sender_id"],
            ["organisation.id"],
            name=op.f("fk_person_sender_id_organisation"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_person")),
    )
    with op.batch_alter_table("person", schema=None) as batch_op:
        batch_op.create_index("ix_person_disaster_sender", ["disaster_id", "sender_id"], unique=False)

    op.create_table(
        "team",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("disaster_id", sa.Integer(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("team_type", sa.String(length=32), nullable=False),
        sa.Column("operation_id", sa.Integer(), nullable=False),
        sa.Column("sender_id", sa.Integer(), nullable=False),
        sa.Column("destination_id", sa.Integer(), nullable=False),
        sa.Column("duty_id", sa.Integer(), nullable=False),
        sa.Column("receiving_section", sa.String(length=100), nullable=False),
        sa.Column("leader_id", sa.Integer(), nullable=True),
        sa.Column("start_date", sa.Date(), nullable=False),
        sa.Column("end_date", sa.Date(), nullable=False),
        sa.Column("travel_at_start", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("travel_at_end", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.CheckConstraint(
            "team_type IN ('general_support', 'counterpart', 'shelter', 'damage_survey', 'water', 'other')",
            name=op.f("ck_team_team_type"),
        ),
        sa.CheckConstraint("end_date >= start_date", name=op.f("ck_team_end_after_start")),
        sa.CheckConstraint("number >= 1", name=op.f("ck_team_number_positive")),
        sa.CheckConstraint("sender_id <> destination_id", name=op.f("ck_team_sender_not_destination")),
        sa.ForeignKeyConstraint(
            ["destination_id"],
            ["organisation.id"],
            name=op.f("fk_team_destination_id_organisation"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["disaster_id"], ["disaster.id"], name=op.f("fk_team_disaster_id_disaster"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["duty_id"], ["duty.id"], name=op.f("fk_team_duty_id_duty"), ondelete="RESTRICT"
        ),
        sa.ForeignKeyConstraint(
            ["leader_id"], ["person.id"], name=op.f("fk_team_leader_id_person"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["operation_id"],
            ["operation.id"],
            name=op.f("fk_team_operation_id_operation"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["sender_id"],
            ["organisation.id"],
            name=op.f("fk_team_sender_id_organisation"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_team")),
        sa.UniqueConstraint(
            "operation_id",
            "sender_id",
            "destination_id",
            "duty_id",
            "number",
            name=op.f("uq_team_operation_id_sender_id_destination_id_duty_id_number"),
        ),
    )
    with op.batch_alter_table("team", schema=None) as batch_op:
        batch_op.create_index(
            "ix_team_disaster_destination", ["disaster_id", "destination_id", "start_date"], unique=False
        )

    op.create_table(
        "stint",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("team_id", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("start_date", sa.Date(), nullable=False),
        sa.Column("end_date", sa.Date(), nullable=False),
        sa.Column("duty_from", sa.Date(), nullable=True),
        sa.Column("duty_to", sa.Date(), nullable=True),
        sa.CheckConstraint(
            "(duty_from IS NULL) = (duty_to IS NULL)", name=op.f("ck_stint_duty_both_or_neither")
        ),
        sa.CheckConstraint("end_date >= start_date", name=op.f("ck_stint_end_after_start")),
        sa.ForeignKeyConstraint(
            ["person_id"], ["person.id"], name=op.f("fk_stint_person_id_person"), ondelete="RESTRICT"
        ),
        sa.ForeignKeyConstraint(
            ["team_id"], ["team.id"], name=op.f("fk_stint_team_id_team"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_stint")),
        sa.UniqueConstraint("team_id", "person_id", name=op.f("uq_stint_team_id_person_id")),
    )
    with op.batch_alter_table("stint", schema=None) as batch_op:
        batch_op.create_index("ix_stint_duty_from", ["duty_from"], unique=False)
        batch_op.create_index("ix_stint_person", ["person_id"], unique=False)

    with op.batch_alter_table("entry", schema=None) as batch_op:
        batch_op.add_column(sa.Column("source", sa.String(length=8), server_default="manual", nullable=False))
        batch_op.create_index(
            "ix_entry_roster_operation_date",
            ["operation_id", "date"],
            unique=False,
            sqlite_where=sa.text("source = 'roster'"),
            postgresql_where=sa.text("source = 'roster'"),
        )

    with op.batch_alter_table("operation", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("travel_days_count", sa.Boolean(), server_default=sa.true(), nullable=False)
        )

    if op.get_bind().dialect.name == "postgresql":
        op.create_check_constraint("source", "entry", "source IN ('manual', 'roster')")


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.drop_constraint(op.f("ck_entry_source"), "entry", type_="check")
    with op.batch_alter_table("operation", schema=None) as batch_op:
        batch_op.drop_column("travel_days_count")

    with op.batch_alter_table("entry", schema=None) as batch_op:
        batch_op.drop_index(
            "ix_entry_roster_operation_date",
            sqlite_where=sa.text("source = 'roster'"),
            postgresql_where=sa.text("source = 'roster'"),
        )
        batch_op.drop_column("source")

    with op.batch_alter_table("stint", schema=None) as batch_op:
        batch_op.drop_index("ix_stint_person")
        batch_op.drop_index("ix_stint_duty_from")

    op.drop_table("stint")
    with op.batch_alter_table("team", schema=None) as batch_op:
        batch_op.drop_index("ix_team_disaster_destination")

    op.drop_table("team")
    with op.batch_alter_table("person", schema=None) as batch_op:
        batch_op.drop_index("ix_person_disaster_sender")

    op.drop_table("person")

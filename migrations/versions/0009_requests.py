"""requests (要請), their dated revisions, assignments and counterpart bodies (対口支援)

Issue 16. Four new tables; nothing existing changes. The revisions and assignments carry copies of their
request's disaster, destination and duty and the last day each counts, so that a day's fill is one range of
a covering index each (fill.py).

Revision ID: 0009_requests
Revises: 0008_export_jobs
Create Date: 2026-11-30 12:34:26.794534

"""

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "0009_requests"
down_revision = "0008_export_jobs"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "counterpart_assignment",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("disaster_id", sa.Integer(), nullable=False),
        sa.Column("supporter_id", sa.Integer(), nullable=False),
        sa.Column("supported_id", sa.Integer(), nullable=False),
        sa.Column("stage", sa.String(length=40), nullable=False),
        sa.Column("decided_on", sa.Date(), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "supported_id <> supporter_id", name=op.f("ck_counterpart_assignment_supporter_not_supported")
        ),
        sa.ForeignKeyConstraint(
            ["disaster_id"],
            ["disaster.id"],
            name=op.f("fk_counterpart_assignment_disaster_id_disaster"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["supported_id"],
            ["organisation.id"],
            name=op.f("fk_counterpart_assignment_supported_id_organisation"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["supporter_id"],
            ["organisation.id"],
            name=op.f("fk_counterpart_assignment_supporter_id_organisation"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_counterpart_assignment")),
        sa.UniqueConstraint(
            "disaster_id",
            "supported_id",
            "supporter_id",
            "stage",
            name=op.f("uq_counterpart_assignment_disaster_id_supported_id_supporter_id_stage"),
        ),
    )
    op.create_table(
        "staff_request",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("disaster_id", sa.Integer(), nullable=False),
        sa.Column("number", sa.String(length=40), nullable=False),
        sa.Column("requester_id", sa.Integer(), nullable=False),
        sa.Column("received_on", sa.Date(), nullable=False),
        sa.Column("route", sa.String(length=20), nullable=False),
        sa.Column("duty_id", sa.Integer(), nullable=True),
        sa.Column("job_type", sa.String(length=50), nullable=False),
        sa.Column("place", sa.String(length=200), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("conditions", sa.Text(), nullable=False),
        sa.Column("lodging", sa.Text(), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("withdrawn_on", sa.Date(), nullable=True),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "(state = 'withdrawn') = (withdrawn_on IS NOT NULL)",
            name=op.f("ck_staff_request_withdrawn_has_date"),
        ),
        sa.CheckConstraint("number <> ''", name=op.f("ck_staff_request_number_not_empty")),
        sa.CheckConstraint(
            "route = 'long_term' OR duty_id IS NOT NULL", name=op.f("ck_staff_request_short_term_has_duty")
        ),
        sa.CheckConstraint(
            "route IN ('agreement', 'counterpart', 'general_support', 'governors', 'long_term', 'other')",
            name=op.f("ck_staff_request_route"),
        ),
        sa.CheckConstraint(
            "state IN ('open', 'coordinating', 'withdrawn', 'closed')", name=op.f("ck_staff_request_state")
        ),
        sa.ForeignKeyConstraint(
            ["disaster_id"],
            ["disaster.id"],
            name=op.f("fk_staff_request_disaster_id_disaster"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["duty_id"], ["duty.id"], name=op.f("fk_staff_request_duty_id_duty"), ondelete="RESTRICT"
        ),
        sa.ForeignKeyConstraint(
            ["requester_id"],
            ["organisation.id"],
            name=op.f("fk_staff_request_requester_id_organisation"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_staff_request")),
        sa.UniqueConstraint("disaster_id", "number", name=op.f("uq_staff_request_disaster_id_number")),
    )
    with op.batch_alter_table("staff_request", schema=None) as batch_op:
        batch_op.create_index(
            "ix_staff_request_disaster_destination", ["disaster_id", "requester_id"], unique=False
        )

    op.create_table(
        "assignment",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("request_id", sa.Integer(), nullable=False),
        sa.Column("sender_id", sa.Integer(), nullable=False),
        sa.Column("persons", sa.Integer(), nullable=False),
        sa.Column("date_from", sa.Date(), nullable=False),
        sa.Column("date_to", sa.Date(), nullable=False),
        sa.Column("disaster_id", sa.Integer(), nullable=False),
        sa.Column("requester_id", sa.Integer(), nullable=False),
        sa.Column("duty_id", sa.Integer(), nullable=True),
        sa.Column("counts_to", sa.Date(), nullable=True),
        sa.Column("decided_on", sa.Date(), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "counts_to IS NULL OR counts_to >= date_from", name=op.f("ck_assignment_counts_after_from")
        ),
        sa.CheckConstraint("date_to >= date_from", name=op.f("ck_assignment_to_after_from")),
        sa.CheckConstraint("persons <= 100000", name=op.f("ck_assignment_persons_plausible")),
        sa.CheckConstraint("persons >= 1", name=op.f("ck_assignment_persons_positive")),
        sa.ForeignKeyConstraint(
            ["disaster_id"],
            ["disaster.id"],
            name=op.f("fk_assignment_disaster_id_disaster"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["duty_id"], ["duty.id"], name=op.f("fk_assignment_duty_id_duty"), ondelete="RESTRICT"
        ),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["staff_request.id"],
            name=op.f("fk_assignment_request_id_staff_request"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["requester_id"],
            ["organisation.id"],
            name=op.f("fk_assignment_requester_id_organisation"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["sender_id"],
            ["organisation.id"],
            name=op.f("fk_assignment_sender_id_organisation"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_assignment")),
    )
    with op.batch_alter_table("assignment", schema=None) as batch_op:
        batch_op.create_index(
            "ix_assignment_counts",
            ["disaster_id", "counts_to", "date_from", "requester_id", "duty_id", "persons"],
            unique=False,
        )
        batch_op.create_index("ix_assignment_request", ["request_id"], unique=False)

    op.create_table(
        "request_revision",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("request_id", sa.Integer(), nullable=False),
        sa.Column("date_from", sa.Date(), nullable=False),
        sa.Column("date_to", sa.Date(), nullable=False),
        sa.Column("persons", sa.Integer(), nullable=False),
        sa.Column("fiscal_year", sa.Integer(), nullable=True),
        sa.Column("disaster_id", sa.Integer(), nullable=False),
        sa.Column("requester_id", sa.Integer(), nullable=False),
        sa.Column("duty_id", sa.Integer(), nullable=True),
        sa.Column("in_force_to", sa.Date(), nullable=True),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("date_to >= date_from", name=op.f("ck_request_revision_to_after_from")),
        sa.CheckConstraint(
            "in_force_to IS NULL OR in_force_to >= date_from",
            name=op.f("ck_request_revision_in_force_after_from"),
        ),
        sa.CheckConstraint("persons <= 100000", name=op.f("ck_request_revision_persons_plausible")),
        sa.CheckConstraint("persons >= 0", name=op.f("ck_request_revision_persons_not_negative")),
        sa.ForeignKeyConstraint(
            ["disaster_id"],
            ["disaster.id"],
            name=op.f("fk_request_revision_disaster_id_disaster"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["duty_id"], ["duty.id"], name=op.f("fk_request_revision_duty_id_duty"), ondelete="RESTRICT"
        ),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["staff_request.id"],
            name=op.f("fk_request_revision_request_id_staff_request"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["requester_id"],
            ["organisation.id"],
            name=op.f("fk_request_revision_requester_id_organisation"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_request_revision")),
        sa.UniqueConstraint("request_id", "date_from", name=op.f("uq_request_revision_request_id_date_from")),
    )
    with op.batch_alter_table("request_revision", schema=None) as batch_op:
        batch_op.create_index(
            "ix_request_revision_in_force",
            ["disaster_id", "in_force_to", "date_from", "requester_id", "duty_id", "persons"],
            unique=False,
        )


def downgrade():
    with op.batch_alter_table("request_revision", schema=None) as batch_op:
        batch_op.drop_index("ix_request_revision_in_force")

    op.drop_table("request_revision")
    with op.batch_alter_table("assignment", schema=None) as batch_op:
        batch_op.drop_index("ix_assignment_request")
        batch_op.drop_index("ix_assignment_counts")

    op.drop_table("assignment")
    with op.batch_alter_table("staff_request", schema=None) as batch_op:
        batch_op.drop_index("ix_staff_request_disaster_destination")

    op.drop_table("staff_request")
    op.drop_table("counterpart_assignment")

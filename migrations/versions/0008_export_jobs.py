"""export jobs: a large .xlsx export built by the scheduler process

Revision ID: 0008_export_jobs
Revises: 0007
Create Date: 2026-11-30

Issue 15, item 6.

- `export_job`: who asked for which workbook (kind, as-of date, the filter's codes, the municipality it is
  limited to), its state (queued, running, done, failed, expired), rows written of rows total for the
  progress page, the file under the instance folder, the error shown when it failed, and when it was asked
  for, started and finished. Queued jobs are found by (status, created_at).
"""

import sqlalchemy as sa
from alembic import op

revision = "0008_export_jobs"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "export_job",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("disaster_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("as_of", sa.Date(), nullable=False),
        sa.Column("filters", sa.JSON(), nullable=False),
        sa.Column("visible_to", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("rows_written", sa.Integer(), nullable=False),
        sa.Column("rows_total", sa.Integer(), nullable=False),
        sa.Column("file_name", sa.String(length=300), nullable=False),
        sa.Column("file_path", sa.String(length=500), nullable=False),
        sa.Column("file_size", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text(), nullable=False),
        sa.Column("claimed_by", sa.String(length=100), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("kind IN ('entries', 'totals')", name=op.f("ck_export_job_kind")),
        sa.CheckConstraint(
            "status IN ('queued', 'running', 'done', 'failed', 'expired')", name=op.f("ck_export_job_status")
        ),
        sa.ForeignKeyConstraint(
            ["disaster_id"],
            ["disaster.id"],
            name=op.f("fk_export_job_disaster_id_disaster"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["user_account.id"],
            name=op.f("fk_export_job_user_id_user_account"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["visible_to"],
            ["organisation.id"],
            name=op.f("fk_export_job_visible_to_organisation"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_export_job")),
    )
    with op.batch_alter_table("export_job", schema=None) as batch_op:
        batch_op.create_index("ix_export_job_status_created_at", ["status", "created_at"], unique=False)


def downgrade():
    with op.batch_alter_table("export_job", schema=None) as batch_op:
        batch_op.drop_index("ix_export_job_status_created_at")
    op.drop_table("export_job")

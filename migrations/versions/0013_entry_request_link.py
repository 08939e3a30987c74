"""entries linked by choice to the request they fill (entry_request_link)

Issue 16, item 3: an entry links to its request automatically where exactly one request matches it, by
choice otherwise. The choice is a table of its own rather than a column of the entry, so that the entry
form's write path (its statements and its lock) stays what it was; deleting an entry or a request deletes
its links.

Revision ID: 0013_entry_request_link
Revises: 0012_typed_headcount
Create Date: 2026-11-30
"""

from alembic import op
import sqlalchemy as sa


revision = "0013_entry_request_link"
down_revision = "0012_typed_headcount"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "entry_request_link",
        sa.Column("entry_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("request_id", sa.Integer(), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["entry_id"],
            ["entry.id"],
            name=op.f("fk_entry_request_link_entry_id_entry"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["staff_request.id"],
            name=op.f("fk_entry_request_link_request_id_staff_request"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("entry_id", name=op.f("pk_entry_request_link")),
    )
    op.create_index("ix_entry_request_link_request", "entry_request_link", ["request_id"])


def downgrade():
    op.drop_index("ix_entry_request_link_request", table_name="entry_request_link")
    op.drop_table("entry_request_link")

"""/cash and /overdue: one pending "Sync now" per workspace, and how to show its follow-up.

Revision ID: 0004
Revises: 0003
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: Sequence[str] | None = None
depends_on: Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("sync_request", schema=None) as batch_op:
        batch_op.add_column(sa.Column("requester_locale", sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column("in_channel", sa.Boolean(), nullable=False, server_default=sa.false()))
    op.create_index(
        "uq_sync_request_pending",
        "sync_request",
        ["workspace_id"],
        unique=True,
        sqlite_where=sa.text("finished_at IS NULL"),
        postgresql_where=sa.text("finished_at IS NULL"),
    )


def downgrade() -> None:
    op.drop_index("uq_sync_request_pending", table_name="sync_request")
    with op.batch_alter_table("sync_request", schema=None) as batch_op:
        batch_op.drop_column("in_channel")
        batch_op.drop_column("requester_locale")

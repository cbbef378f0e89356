"""Banking tables filled by the Ponto sync.

Revision ID: 0002
Revises: 0001
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: Sequence[str] | None = None
depends_on: Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "bank_account",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("workspace_id", sa.Integer(), nullable=False),
        sa.Column("connection_id", sa.Integer(), nullable=False),
        sa.Column("provider_account_id", sa.String(length=64), nullable=False),
        sa.Column("financial_institution_id", sa.String(length=64), nullable=True),
        sa.Column("bank_name", sa.String(length=255), nullable=True),
        sa.Column("reference", sa.String(length=64), nullable=True),
        sa.Column("reference_type", sa.String(length=16), nullable=True),
        sa.Column("description", sa.String(length=255), nullable=True),
        sa.Column("holder_name", sa.String(length=255), nullable=True),
        sa.Column("product", sa.String(length=255), nullable=True),
        sa.Column("subtype", sa.String(length=32), nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("current_balance", sa.BigInteger(), nullable=False),
        sa.Column("available_balance", sa.BigInteger(), nullable=True),
        sa.Column("balance_reference_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("synced_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("fetched_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("authorization_expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("availability", sa.String(length=16), nullable=True),
        sa.Column("latest_sync_status", sa.String(length=16), nullable=True),
        sa.Column("latest_sync_error", sa.Text(), nullable=True),
        sa.Column("sweep_next_url", sa.Text(), nullable=True),
        sa.Column("sweep_newest_id", sa.String(length=64), nullable=True),
        sa.Column("transactions_marker", sa.String(length=128), nullable=True),
        sa.Column("history_complete", sa.Boolean(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["connection_id"],
            ["connection.id"],
            name=op.f("fk_bank_account_connection_id_connection"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspace.id"],
            name=op.f("fk_bank_account_workspace_id_workspace"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bank_account")),
        sa.UniqueConstraint(
            "workspace_id",
            "provider_account_id",
            name=op.f("uq_bank_account_workspace_id_provider_account_id"),
        ),
    )
    op.create_table(
        "bank_transaction",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("provider_transaction_id", sa.String(length=64), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("value_date", sa.Date(), nullable=True),
        sa.Column("execution_date", sa.Date(), nullable=False),
        sa.Column("counterpart_name", sa.String(length=255), nullable=True),
        sa.Column("counterpart_reference", sa.String(length=64), nullable=True),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("remittance_information", sa.Text(), nullable=True),
        sa.Column("remittance_information_type", sa.String(length=16), nullable=True),
        sa.Column("bank_transaction_code", sa.String(length=64), nullable=True),
        sa.Column("end_to_end_id", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["bank_account.id"],
            name=op.f("fk_bank_transaction_account_id_bank_account"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bank_transaction")),
        sa.UniqueConstraint(
            "account_id",
            "provider_transaction_id",
            name=op.f("uq_bank_transaction_account_id_provider_transaction_id"),
        ),
    )
    with op.batch_alter_table("bank_account", schema=None) as batch_op:
        batch_op.create_index("ix_bank_account_connection_id", ["connection_id"], unique=False)
    with op.batch_alter_table("bank_transaction", schema=None) as batch_op:
        batch_op.create_index(
            "ix_bank_transaction_account_execution",
            ["account_id", "execution_date", "amount"],
            unique=False,
        )


def downgrade() -> None:
    op.drop_table("bank_transaction")
    op.drop_table("bank_account")

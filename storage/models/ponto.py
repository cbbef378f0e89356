"""Tables filled by the Ponto sync: bank accounts (with their sweep state) and their transactions."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy import Boolean, Date, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from storage.models.base import Amount, Base, UTCDateTime, clock_now
from storage.models.core import workspace_fk


class BankAccount(Base):
    """A bank account seen through Ponto, with its latest balance and where its transaction sync stands.

    The transaction sync walks newest-first. `sweep_next_url` is set while a sweep is unfinished
    (the next page to fetch, committed with the page before it); `transactions_marker` records the
    account state (Ponto's synchronizedAt and balance) for which every transaction is stored.
    """

    __tablename__ = "bank_account"
    __table_args__ = (UniqueConstraint("workspace_id", "provider_account_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = mapped_column(workspace_fk())
    connection_id: Mapped[int] = mapped_column(ForeignKey("connection.id", ondelete="CASCADE"), index=True)
    provider_account_id: Mapped[str] = mapped_column(String(64))
    financial_institution_id: Mapped[str | None] = mapped_column(String(64))
    bank_name: Mapped[str | None] = mapped_column(String(255))
    reference: Mapped[str | None] = mapped_column(String(64))
    reference_type: Mapped[str | None] = mapped_column(String(16))
    description: Mapped[str | None] = mapped_column(String(255))
    holder_name: Mapped[str | None] = mapped_column(String(255))
    product: Mapped[str | None] = mapped_column(String(255))
    subtype: Mapped[str | None] = mapped_column(String(32))
    currency: Mapped[str] = mapped_column(String(3))
    current_balance: Mapped[Decimal] = mapped_column(Amount)
    available_balance: Mapped[Decimal | None] = mapped_column(Amount)
    balance_reference_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    synced_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    fetched_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=clock_now)
    authorization_expires_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    availability: Mapped[str | None] = mapped_column(String(16))
    latest_sync_status: Mapped[str | None] = mapped_column(String(16))
    latest_sync_error: Mapped[str | None] = mapped_column(Text)
    sweep_next_url: Mapped[str | None] = mapped_column(Text)
    sweep_newest_id: Mapped[str | None] = mapped_column(String(64))
    transactions_marker: Mapped[str | None] = mapped_column(String(128))
    history_complete: Mapped[bool] = mapped_column(Boolean, default=False)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=clock_now)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=clock_now, onupdate=clock_now)


class BankTransaction(Base):
    """A booked bank transaction; unique per account and Ponto id, so re-syncs add nothing.

    `execution_date` and `value_date` are calendar days in the bank's timezone (Europe/Brussels
    by default): a bank that books "2 January" sends 2019-01-01T23:00:00Z.
    """

    __tablename__ = "bank_transaction"
    __table_args__ = (
        UniqueConstraint("account_id", "provider_transaction_id"),
        Index("ix_bank_transaction_account_execution", "account_id", "execution_date", "amount"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("bank_account.id", ondelete="CASCADE"))
    provider_transaction_id: Mapped[str] = mapped_column(String(64))
    amount: Mapped[Decimal] = mapped_column(Amount)
    currency: Mapped[str] = mapped_column(String(3))
    value_date: Mapped[dt.date | None] = mapped_column(Date)
    execution_date: Mapped[dt.date] = mapped_column(Date)
    counterpart_name: Mapped[str | None] = mapped_column(String(255))
    counterpart_reference: Mapped[str | None] = mapped_column(String(64))
    description: Mapped[str | None] = mapped_column(Text)
    remittance_information: Mapped[str | None] = mapped_column(Text)
    remittance_information_type: Mapped[str | None] = mapped_column(String(16))
    bank_transaction_code: Mapped[str | None] = mapped_column(String(64))
    end_to_end_id: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=clock_now)

"""Tables filled by the Yuki sync: open items, ledger balances, the daily call budget."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy import Date, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from storage.models.base import Amount, Base, UTCDateTime, clock_now
from storage.models.core import workspace_fk


class OpenItem(Base):
    """A receivable or payable from Yuki; closed (with the time) once no longer outstanding."""

    __tablename__ = "open_item"
    __table_args__ = (
        UniqueConstraint("workspace_id", "kind", "provider_item_id"),
        Index("ix_open_item_workspace_kind_status_due", "workspace_id", "kind", "status", "due_date"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = mapped_column(workspace_fk())
    connection_id: Mapped[int] = mapped_column(ForeignKey("connection.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))
    provider_item_id: Mapped[str] = mapped_column(String(64))
    contact_name: Mapped[str | None] = mapped_column(String(255))
    contact_code: Mapped[str | None] = mapped_column(String(64))
    reference: Mapped[str | None] = mapped_column(String(128))
    description: Mapped[str | None] = mapped_column(Text)
    item_type: Mapped[str | None] = mapped_column(String(64))
    item_date: Mapped[dt.date | None] = mapped_column(Date)
    due_date: Mapped[dt.date | None] = mapped_column(Date)
    original_amount: Mapped[Decimal | None] = mapped_column(Amount)
    open_amount: Mapped[Decimal] = mapped_column(Amount)
    currency: Mapped[str] = mapped_column(String(3))
    status: Mapped[str] = mapped_column(String(16), default="open")
    first_seen_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=clock_now)
    last_seen_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=clock_now)
    closed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class LedgerBalance(Base):
    """The balance of one bank or cash ledger account in Yuki on a date."""

    __tablename__ = "ledger_balance"
    __table_args__ = (UniqueConstraint("workspace_id", "gl_code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = mapped_column(workspace_fk())
    connection_id: Mapped[int] = mapped_column(ForeignKey("connection.id", ondelete="CASCADE"))
    gl_code: Mapped[str] = mapped_column(String(32))
    description: Mapped[str | None] = mapped_column(String(255))
    amount: Mapped[Decimal] = mapped_column(Amount)
    currency: Mapped[str] = mapped_column(String(3))
    balance_date: Mapped[dt.date] = mapped_column(Date)
    fetched_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=clock_now)


class CallBudget(Base):
    """Calls spent against a provider's daily limit, per scope (a Yuki domain) and day."""

    __tablename__ = "call_budget"

    provider: Mapped[str] = mapped_column(String(16), primary_key=True)
    scope_key: Mapped[str] = mapped_column(String(128), primary_key=True)
    day: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    calls: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=clock_now, onupdate=clock_now)


class UnparsedItem(Base):
    """An outstanding item Yuki sent that did not parse; retried on the next sync."""

    __tablename__ = "unparsed_item"
    __table_args__ = (UniqueConstraint("workspace_id", "kind", "provider_item_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = mapped_column(workspace_fk())
    kind: Mapped[str] = mapped_column(String(16))
    provider_item_id: Mapped[str] = mapped_column(String(64))
    error: Mapped[str] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, default=1)
    first_seen_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=clock_now)
    last_seen_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=clock_now)

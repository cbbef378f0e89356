"""The read side of /cash and /overdue: every query over the Ponto and Yuki tables, in one place.

Aggregates are computed by the database (sums per account, per customer and ageing bucket), and
every query is shaped to use an index: the 7-day change is a range scan of
`ix_bank_transaction_account_execution` per account, the largest overdue invoices an ordered scan
of `ix_open_item_overdue_by_amount` that stops after one page.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, and_, case, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import (
    BankAccount,
    BankTransaction,
    Connection,
    LedgerBalance,
    OpenItem,
    SyncRun,
)

RECEIVABLE = "receivable"
OPEN = "open"
ZERO = Decimal(0)


@dataclass(frozen=True)
class AccountRow:
    """A bank account with its latest balance, as stored by the Ponto sync."""

    id: int
    bank_name: str | None
    description: str | None
    reference: str | None
    reference_type: str | None
    currency: str
    balance: Decimal
    synced_at: dt.datetime | None
    sync_status: str | None


@dataclass(frozen=True)
class LedgerRow:
    """Yuki's bank and cash ledger balance in one currency."""

    currency: str
    amount: Decimal
    balance_date: dt.date | None
    fetched_at: dt.datetime | None


@dataclass(frozen=True)
class SourceRow:
    """The health of one provider connection."""

    provider: str
    state: str
    last_success_at: dt.datetime | None
    last_error_at: dt.datetime | None
    last_error_code: str | None
    scope_key: str | None


@dataclass(frozen=True)
class DueRange:
    """Invoices whose due date lies in [first, last] (both inclusive); empty when first > last."""

    first: dt.date
    last: dt.date


@dataclass(frozen=True)
class CustomerRow:
    """One customer's overdue invoices per ageing bucket, and their open credit notes, in one currency."""

    currency: str
    customer_key: str
    name: str
    bucket_amounts: tuple[Decimal, ...]
    bucket_counts: tuple[int, ...]
    credits: Decimal  # sum of the customer's negative open items (credit notes, unapplied payments)


@dataclass(frozen=True)
class InvoiceRow:
    """One overdue invoice."""

    id: int
    customer_key: str
    customer: str
    reference: str | None
    amount: Decimal
    currency: str
    due_date: dt.date


async def bank_accounts(session: AsyncSession, workspace_id: int) -> list[AccountRow]:
    rows = await session.execute(
        select(
            BankAccount.id,
            BankAccount.bank_name,
            BankAccount.description,
            BankAccount.reference,
            BankAccount.reference_type,
            BankAccount.currency,
            BankAccount.current_balance,
            func.coalesce(BankAccount.synced_at, BankAccount.fetched_at),
            BankAccount.latest_sync_status,
        )
        .where(BankAccount.workspace_id == workspace_id, BankAccount.active.is_(True))
        .order_by(BankAccount.id)
    )
    return [AccountRow(*row) for row in rows]


async def changes_since(session: AsyncSession, workspace_id: int, after: dt.date) -> dict[int, Decimal]:
    """Per account, the sum of transactions executed after `after` (an index range scan per account)."""
    rows = await session.execute(
        select(BankTransaction.account_id, func.sum(BankTransaction.amount))
        .join(BankAccount, BankAccount.id == BankTransaction.account_id)
        .where(BankAccount.workspace_id == workspace_id, BankTransaction.execution_date > after)
        .group_by(BankTransaction.account_id)
    )
    return {account_id: total or ZERO for account_id, total in rows}


async def ledger_totals(session: AsyncSession, workspace_id: int) -> list[LedgerRow]:
    """Yuki's bank/cash ledger balance per currency (the Yuki sync stores only those ledgers)."""
    rows = await session.execute(
        select(
            LedgerBalance.currency,
            func.sum(LedgerBalance.amount),
            func.max(LedgerBalance.balance_date),
            func.max(LedgerBalance.fetched_at),
        )
        .join(Connection, Connection.id == LedgerBalance.connection_id)
        # The books of a disconnected Yuki are frozen: comparing today's bank with them misleads.
        .where(LedgerBalance.workspace_id == workspace_id, Connection.state != "disconnected")
        .group_by(LedgerBalance.currency)
        .order_by(LedgerBalance.currency)
    )
    return [LedgerRow(currency, amount or ZERO, day, fetched) for currency, amount, day, fetched in rows]


async def sources(session: AsyncSession, workspace_id: int) -> list[SourceRow]:
    rows = await session.execute(
        select(
            Connection.provider,
            Connection.state,
            Connection.last_success_at,
            Connection.last_error_at,
            Connection.last_error_code,
            Connection.scope_key,
        )
        .where(Connection.workspace_id == workspace_id)
        .order_by(Connection.provider)
    )
    return [SourceRow(*row) for row in rows]


def _customer_key() -> ColumnElement[Any]:
    return func.coalesce(OpenItem.contact_code, OpenItem.contact_name, "")


def _in_range(due: DueRange) -> ColumnElement[bool]:
    return and_(OpenItem.open_amount > 0, OpenItem.due_date >= due.first, OpenItem.due_date <= due.last)


async def overdue_by_customer(
    session: AsyncSession, workspace_id: int, buckets: Sequence[DueRange]
) -> list[CustomerRow]:
    """Every customer with an overdue invoice in one of `buckets`, with its sums and credit notes."""
    key = _customer_key().label("customer_key")
    amounts = [func.sum(case((_in_range(b), OpenItem.open_amount), else_=ZERO)) for b in buckets]
    counts = [func.sum(case((_in_range(b), 1), else_=0)) for b in buckets]
    credits = func.sum(case((OpenItem.open_amount < 0, OpenItem.open_amount), else_=ZERO))
    any_overdue = func.sum(case((or_ranges(buckets), 1), else_=0))
    rows = await session.execute(
        select(OpenItem.currency, key, func.max(OpenItem.contact_name), credits, *amounts, *counts)
        .where(
            OpenItem.workspace_id == workspace_id,
            OpenItem.kind == RECEIVABLE,
            OpenItem.status == OPEN,
        )
        .group_by(OpenItem.currency, key)
        .having(any_overdue > 0)
    )
    size = len(buckets)
    return [
        CustomerRow(
            currency=row[0],
            customer_key=row[1],
            name=row[2] or row[1] or "—",
            credits=row[3] or ZERO,
            bucket_amounts=tuple(amount or ZERO for amount in row[4 : 4 + size]),
            bucket_counts=tuple(int(count or 0) for count in row[4 + size :]),
        )
        for row in rows
    ]


def or_ranges(buckets: Sequence[DueRange]) -> ColumnElement[bool]:
    first = min(b.first for b in buckets)
    last = max(b.last for b in buckets)
    return _in_range(DueRange(first, last))


async def overdue_invoices(
    session: AsyncSession, workspace_id: int, due_on_or_before: dt.date, batch: int = 200
) -> AsyncIterator[InvoiceRow]:
    """Overdue invoices, largest first, read lazily so a caller can stop after one page."""
    query = (
        select(
            OpenItem.id,
            _customer_key(),
            OpenItem.contact_name,
            OpenItem.reference,
            OpenItem.open_amount,
            OpenItem.currency,
            OpenItem.due_date,
        )
        .where(
            OpenItem.workspace_id == workspace_id,
            OpenItem.kind == RECEIVABLE,
            OpenItem.status == OPEN,
            OpenItem.open_amount > 0,
            OpenItem.due_date <= due_on_or_before,
        )
        .order_by(OpenItem.open_amount.desc(), OpenItem.id)
        .execution_options(yield_per=batch)
    )
    result = await session.stream(query)
    async for row in result:
        yield InvoiceRow(row[0], row[1], row[2] or row[1] or "—", row[3], row[4], row[5], row[6])


async def last_sync_started(session: AsyncSession, workspace_id: int) -> dt.datetime | None:
    """When the workspace's most recent sync run (any provider, any trigger) started."""
    return (
        await session.execute(
            select(func.max(SyncRun.started_at)).where(SyncRun.workspace_id == workspace_id)
        )
    ).scalar_one_or_none()

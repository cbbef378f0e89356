"""Bank accounts and transactions: idempotent upserts and the per-account sweep state.

Transactions go in with the dialect's `INSERT … ON CONFLICT DO NOTHING` on (account, Ponto id),
so storing a page twice (a resumed sync re-fetching it) adds nothing.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from storage.database import session_now
from storage.models import BankAccount, BankTransaction

# Account columns a sync overwrites on every run (everything Ponto says about the account).
ACCOUNT_DETAILS = (
    "connection_id",
    "financial_institution_id",
    "reference",
    "reference_type",
    "description",
    "holder_name",
    "product",
    "subtype",
    "currency",
    "current_balance",
    "available_balance",
    "balance_reference_at",
    "synced_at",
    "fetched_at",
    "authorization_expires_at",
    "availability",
    "latest_sync_status",
    "latest_sync_error",
    "active",
)


@dataclass(frozen=True)
class SweepState:
    """What the sync needs to know about one stored account."""

    id: int
    provider_account_id: str
    financial_institution_id: str | None
    bank_name: str | None
    sweep_next_url: str | None
    sweep_newest_id: str | None
    transactions_marker: str | None
    history_complete: bool


@dataclass(frozen=True)
class AccountSummary:
    """An account as /cashbot status and /cash show it."""

    id: int
    bank_name: str | None
    reference: str | None
    description: str | None
    currency: str
    current_balance: Decimal
    synced_at: dt.datetime | None
    authorization_expires_at: dt.datetime | None
    latest_sync_status: str | None
    latest_sync_error: str | None
    transactions: int


def _insert(session: AsyncSession, table: Any) -> Any:
    dialect = session.get_bind().dialect.name
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)


async def upsert_account(
    session: AsyncSession, workspace_id: int, provider_account_id: str, details: Mapping[str, Any]
) -> SweepState:
    """Create or update the account row from Ponto's details; its sweep state is kept."""
    values = {key: details[key] for key in ACCOUNT_DETAILS if key in details}
    statement = (
        _insert(session, BankAccount)
        .values(workspace_id=workspace_id, provider_account_id=provider_account_id, **values)
        .on_conflict_do_update(
            index_elements=[BankAccount.workspace_id, BankAccount.provider_account_id],
            set_={**values, "updated_at": session_now(session)},
        )
        .returning(BankAccount.id)
    )
    account_id = (await session.execute(statement)).scalar_one()
    return await sweep_state(session, account_id)


async def sweep_state(session: AsyncSession, account_id: int) -> SweepState:
    row = (
        await session.execute(
            select(
                BankAccount.id,
                BankAccount.provider_account_id,
                BankAccount.financial_institution_id,
                BankAccount.bank_name,
                BankAccount.sweep_next_url,
                BankAccount.sweep_newest_id,
                BankAccount.transactions_marker,
                BankAccount.history_complete,
            ).where(BankAccount.id == account_id)
        )
    ).one()
    return SweepState(*row)


async def set_bank_names(session: AsyncSession, names: Mapping[str, str]) -> None:
    """Name the bank of every account at each financial institution in `names`."""
    for institution_id, name in names.items():
        await session.execute(
            update(BankAccount)
            .where(BankAccount.financial_institution_id == institution_id)
            .values(bank_name=name[:255])
        )


async def deactivate_missing(session: AsyncSession, connection_id: int, seen: Iterable[str]) -> int:
    """Accounts Ponto no longer lists (revoked from the integration) stop counting; kept for history."""
    result = await session.execute(
        update(BankAccount)
        .where(
            BankAccount.connection_id == connection_id,
            BankAccount.provider_account_id.not_in(list(seen)),
            BankAccount.active.is_(True),
        )
        .values(active=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)


async def known_transaction_ids(session: AsyncSession, account_id: int, ids: Sequence[str]) -> set[str]:
    """Which of `ids` are stored for the account already."""
    if not ids:
        return set()
    rows = await session.execute(
        select(BankTransaction.provider_transaction_id).where(
            BankTransaction.account_id == account_id, BankTransaction.provider_transaction_id.in_(ids)
        )
    )
    return set(rows.scalars())


async def insert_transactions(session: AsyncSession, rows: Sequence[Mapping[str, Any]]) -> None:
    """Store transactions; a row already there (same account and Ponto id) is skipped."""
    if rows:
        # The Table, not the ORM class: ORM bulk inserts split the batch wherever the set of
        # None columns changes from one row to the next (thousands of small executemany calls).
        table = BankTransaction.__table__
        await session.execute(_insert(session, table).on_conflict_do_nothing(), list(rows))


async def save_sweep(session: AsyncSession, account_id: int, **values: Any) -> None:
    """Move the account's sweep state (cursor, newest id, marker, history flag) forward."""
    await session.execute(update(BankAccount).where(BankAccount.id == account_id).values(**values))


async def account_summaries(session: AsyncSession, connection_id: int) -> list[AccountSummary]:
    """Active accounts of a connection with their transaction counts, by bank and reference."""
    counts = (
        select(BankTransaction.account_id, func.count().label("n"))
        .group_by(BankTransaction.account_id)
        .subquery()
    )
    rows = await session.execute(
        select(BankAccount, func.coalesce(counts.c.n, 0))
        .outerjoin(counts, counts.c.account_id == BankAccount.id)
        .where(BankAccount.connection_id == connection_id, BankAccount.active.is_(True))
        .order_by(BankAccount.bank_name, BankAccount.reference)
    )
    return [
        AccountSummary(
            a.id,
            a.bank_name,
            a.reference,
            a.description,
            a.currency,
            a.current_balance,
            a.synced_at,
            a.authorization_expires_at,
            a.latest_sync_status,
            a.latest_sync_error,
            int(n),
        )
        for a, n in rows.all()
    ]

"""Rows for /cash and /overdue tests, written straight into the tables the Ponto and Yuki syncs fill."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import insert, update

from bot.clock import Clock, SystemClock, local_today
from bot.domain import Provider
from bot.providers.connections import ConnectionService
from storage.crypto import SecretBox, generate_key
from storage.database import Database
from storage.models import BankAccount, BankTransaction, Connection, LedgerBalance, OpenItem
from storage.workspaces import ensure_workspace

TEAM = "T0CASHBOT"


async def workspace(database: Database, team_id: str = TEAM, installed_by: str | None = None) -> int:
    async with database.write() as session:
        row = await ensure_workspace(
            session, team_id, timezone="Europe/Brussels", installed_by_user_id=installed_by
        )
        return row.id


async def connect(
    database: Database,
    workspace_id: int,
    provider: Provider,
    *,
    connected_by: str = "U0ADMIN",
    state: str = "active",
    last_success_at: dt.datetime | None = None,
    scope_key: str | None = None,
) -> int:
    """A connection as a provider's connect flow leaves it, with a last success time."""
    view = await ConnectionService(database, SecretBox([generate_key()]), clock=database.clock).save(
        workspace_id, provider, {"token": "t"}, connected_by=connected_by, scope_key=scope_key
    )
    async with database.write() as session:
        await session.execute(
            update(Connection)
            .where(Connection.id == view.id)
            .values(
                state=state, last_success_at=last_success_at or database.clock.now(), last_error_code=None
            )
        )
    return view.id


@dataclass(frozen=True)
class Account:
    bank: str
    iban: str
    currency: str
    balance: Decimal
    synced_at: dt.datetime | None = None
    description: str | None = "Zichtrekening"


async def add_account(database: Database, workspace_id: int, connection_id: int, account: Account) -> int:
    async with database.write() as session:
        row = BankAccount(
            workspace_id=workspace_id,
            connection_id=connection_id,
            provider_account_id=f"acc-{account.iban}",
            bank_name=account.bank,
            reference=account.iban,
            reference_type="IBAN",
            description=account.description,
            currency=account.currency,
            current_balance=account.balance,
            synced_at=account.synced_at or database.clock.now(),
            fetched_at=database.clock.now(),
            history_complete=True,
            active=True,
        )
        session.add(row)
        await session.flush()
        return row.id


async def add_transactions(
    database: Database, account_id: int, currency: str, moves: Sequence[tuple[dt.date, Decimal]]
) -> None:
    if not moves:
        return
    async with database.write() as session:
        await session.execute(
            insert(BankTransaction),
            [
                {
                    "account_id": account_id,
                    "provider_transaction_id": f"tx-{account_id}-{n}",
                    "amount": amount,
                    "currency": currency,
                    "execution_date": day,
                    "value_date": day,
                    "created_at": database.clock.now(),
                }
                for n, (day, amount) in enumerate(moves)
            ],
        )


@dataclass(frozen=True)
class Item:
    customer: str
    reference: str
    amount: Decimal
    due: dt.date | None
    currency: str = "EUR"
    code: str | None = None
    kind: str = "receivable"
    status: str = "open"


async def add_items(database: Database, workspace_id: int, connection_id: int, items: Sequence[Item]) -> None:
    rows = [
        {
            "workspace_id": workspace_id,
            "connection_id": connection_id,
            "kind": item.kind,
            "provider_item_id": f"item-{n}-{item.reference}"[:64],
            "contact_name": item.customer,
            "contact_code": item.code,
            "reference": item.reference,
            "due_date": item.due,
            "item_date": item.due,
            "open_amount": item.amount,
            "original_amount": item.amount,
            "currency": item.currency,
            "status": item.status,
            "first_seen_at": database.clock.now(),
            "last_seen_at": database.clock.now(),
        }
        for n, item in enumerate(items)
    ]
    for start in range(0, len(rows), 5000):
        async with database.write() as session:
            await session.execute(insert(OpenItem), rows[start : start + 5000])


async def add_ledger(
    database: Database,
    workspace_id: int,
    connection_id: int,
    gl_code: str,
    amount: Decimal,
    currency: str = "EUR",
) -> None:
    async with database.write() as session:
        session.add(
            LedgerBalance(
                workspace_id=workspace_id,
                connection_id=connection_id,
                gl_code=gl_code,
                description="Bank",
                amount=amount,
                currency=currency,
                balance_date=today(database.clock),
                fetched_at=database.clock.now(),
            )
        )


def today(clock: Clock | None = None) -> dt.date:
    """Today in the workspaces' timezone (Europe/Brussels), as the bot counts days overdue."""
    return local_today(clock or SystemClock(), "Europe/Brussels")

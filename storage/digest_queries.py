"""The digest's rows and reads beyond /cash and /overdue: runs, settings, movements, what falls due."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import case, func, select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import (
    BankAccount,
    BankTransaction,
    Connection,
    DigestRun,
    OpenItem,
    OutboxMessage,
    Workspace,
)

ZERO = Decimal(0)


@dataclass(frozen=True)
class Flow:
    """Money in and out of the bank in one currency over a period."""

    currency: str
    money_in: Decimal
    money_out: Decimal


@dataclass(frozen=True)
class Movement:
    """One bank transaction, as the digest lists the largest of them."""

    currency: str
    amount: Decimal
    counterpart: str | None
    execution_date: dt.date


@dataclass(frozen=True)
class DueRow:
    """Open receivables or payables falling due in a window, per currency."""

    kind: str
    currency: str
    amount: Decimal
    count: int


async def flows(session: AsyncSession, workspace_id: int, after: dt.date, until: dt.date) -> list[Flow]:
    """Money in and out per currency for transactions executed after `after`, up to `until`."""
    positive = case((BankTransaction.amount > 0, BankTransaction.amount), else_=0)
    negative = case((BankTransaction.amount < 0, BankTransaction.amount), else_=0)
    rows = await session.execute(
        select(BankAccount.currency, func.sum(positive), func.sum(negative))
        .join(BankAccount, BankAccount.id == BankTransaction.account_id)
        .where(
            BankAccount.workspace_id == workspace_id,
            BankAccount.active.is_(True),
            BankTransaction.execution_date > after,
            BankTransaction.execution_date <= until,
        )
        .group_by(BankAccount.currency)
        .order_by(BankAccount.currency)
    )
    return [Flow(currency, Decimal(i or 0), Decimal(o or 0)) for currency, i, o in rows]


async def largest_movements(
    session: AsyncSession, workspace_id: int, after: dt.date, until: dt.date, limit: int
) -> list[Movement]:
    rows = await session.execute(
        select(
            BankAccount.currency,
            BankTransaction.amount,
            BankTransaction.counterpart_name,
            BankTransaction.execution_date,
        )
        .join(BankAccount, BankAccount.id == BankTransaction.account_id)
        .where(
            BankAccount.workspace_id == workspace_id,
            BankAccount.active.is_(True),
            BankTransaction.execution_date > after,
            BankTransaction.execution_date <= until,
        )
        .order_by(func.abs(BankTransaction.amount).desc(), BankTransaction.id)
        .limit(limit)
    )
    return [Movement(*row) for row in rows]


async def falling_due(
    session: AsyncSession, workspace_id: int, first: dt.date, last: dt.date
) -> list[DueRow]:
    """Open receivables and payables whose due date lies in [first, last], per kind and currency."""
    rows = await session.execute(
        select(OpenItem.kind, OpenItem.currency, func.sum(OpenItem.open_amount), func.count())
        .where(
            OpenItem.workspace_id == workspace_id,
            OpenItem.status == "open",
            OpenItem.due_date >= first,
            OpenItem.due_date <= last,
        )
        .group_by(OpenItem.kind, OpenItem.currency)
        .order_by(OpenItem.kind, OpenItem.currency)
    )
    return [DueRow(kind, currency, Decimal(total or 0), count) for kind, currency, total, count in rows]


async def daily_net(
    session: AsyncSession, workspace_id: int, currency: str, after: dt.date
) -> dict[dt.date, Decimal]:
    """Per execution day after `after`, the net of the day's transactions in one currency."""
    rows = await session.execute(
        select(BankTransaction.execution_date, func.sum(BankTransaction.amount))
        .join(BankAccount, BankAccount.id == BankTransaction.account_id)
        .where(
            BankAccount.workspace_id == workspace_id,
            BankAccount.active.is_(True),
            BankAccount.currency == currency,
            BankTransaction.execution_date > after,
        )
        .group_by(BankTransaction.execution_date)
    )
    return {day: Decimal(total or 0) for day, total in rows}


async def due_per_day(
    session: AsyncSession, workspace_id: int, currency: str, first: dt.date, last: dt.date
) -> dict[dt.date, Decimal]:
    """Per due day in [first, last]: receivables minus payables still open, in one currency."""
    signed = case((OpenItem.kind == "receivable", OpenItem.open_amount), else_=-OpenItem.open_amount)
    rows = await session.execute(
        select(OpenItem.due_date, func.sum(signed))
        .where(
            OpenItem.workspace_id == workspace_id,
            OpenItem.status == "open",
            OpenItem.currency == currency,
            OpenItem.due_date >= first,
            OpenItem.due_date <= last,
        )
        .group_by(OpenItem.due_date)
    )
    return {day: Decimal(total or 0) for day, total in rows if day is not None}


async def consent_expiries(session: AsyncSession, workspace_id: int) -> list[tuple[str, dt.datetime]]:
    """Each connection's consent expiry (Ponto's bank consent), where one is known."""
    rows = await session.execute(
        select(Connection.provider, Connection.consent_expires_at).where(
            Connection.workspace_id == workspace_id,
            Connection.consent_expires_at.is_not(None),
            Connection.state != "disconnected",
        )
    )
    return [(provider, expires) for provider, expires in rows if expires is not None]


async def previous_figures(session: AsyncSession, workspace_id: int, before_period: str) -> str | None:
    """What the last digest before this period showed (its `figures` JSON), if one was sent."""
    return await session.scalar(
        select(DigestRun.figures)
        .where(
            DigestRun.workspace_id == workspace_id,
            DigestRun.period_key < before_period,
            DigestRun.figures.is_not(None),
        )
        .order_by(DigestRun.period_key.desc())
        .limit(1)
    )


async def recorded_runs(session: AsyncSession, pairs: Sequence[tuple[int, str]]) -> set[tuple[int, str]]:
    """Which of these (workspace, period) pairs already have a digest run."""
    rows = await session.execute(
        select(DigestRun.workspace_id, DigestRun.period_key).where(
            tuple_(DigestRun.workspace_id, DigestRun.period_key).in_(pairs)
        )
    )
    return {(workspace_id, period) for workspace_id, period in rows}


async def add_run(session: AsyncSession, run: DigestRun) -> None:
    """Insert the run now (a second run of the period breaks a constraint here or at commit)."""
    session.add(run)
    await session.flush()


async def recent_runs(session: AsyncSession, workspace_id: int, limit: int) -> Sequence[DigestRun]:
    """The workspace's newest runs, newest period first."""
    query = (
        select(DigestRun)
        .where(DigestRun.workspace_id == workspace_id)
        .order_by(DigestRun.period_key.desc())
        .limit(limit)
    )
    return (await session.scalars(query)).all()


async def outbox_by_key(session: AsyncSession, keys: Sequence[str]) -> dict[str, OutboxMessage]:
    return {
        row.key: row
        for row in await session.scalars(select(OutboxMessage).where(OutboxMessage.key.in_(keys)))
    }


async def workspace(session: AsyncSession, workspace_id: int) -> Workspace:
    return await session.get_one(Workspace, workspace_id)


async def subscribed_workspaces(session: AsyncSession) -> Sequence[Workspace]:
    """Installed workspaces with the digest on."""
    query = select(Workspace).where(Workspace.digest_enabled.is_(True), Workspace.uninstalled_at.is_(None))
    return (await session.scalars(query)).all()


async def update_workspace(session: AsyncSession, workspace_id: int, **values: Any) -> None:
    await session.execute(update(Workspace).where(Workspace.id == workspace_id).values(**values))


async def mark_channel_broken(
    session: AsyncSession, workspace_id: int, channel_id: str, now: dt.datetime, reason: str
) -> None:
    """Mark the digest broken, only if `channel_id` is still its channel."""
    await session.execute(
        update(Workspace)
        .where(Workspace.id == workspace_id, Workspace.digest_channel_id == channel_id)
        .values(digest_broken_at=now, digest_broken_reason=reason)
    )

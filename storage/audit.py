"""Audit rows: append-only per chain (a workspace's team id, or "global"), read back in seq order."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

from sqlalchemy import Table, func, insert, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from storage.database import Database
from storage.models import AuditEvent

AUDIT_TABLE = cast(Table, AuditEvent.__table__)


async def lock_chain(session: AsyncSession, chain: str) -> None:
    """Queue appends to one chain across processes until the transaction ends (PostgreSQL)."""
    await session.execute(text("SELECT pg_advisory_xact_lock(hashtext(:chain))"), {"chain": chain})


async def chain_head(session: AsyncSession, chain: str) -> tuple[int, str] | None:
    """The newest row's (seq, row_hash), None for an empty chain."""
    head = (
        await session.execute(
            select(AuditEvent.seq, AuditEvent.row_hash)
            .where(AuditEvent.chain == chain)
            .order_by(AuditEvent.seq.desc())
            .limit(1)
        )
    ).one_or_none()
    return (head[0], head[1]) if head else None


async def insert_events(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> None:
    # Core executemany: one statement for the batch, without the ORM's per-row bookkeeping.
    await session.execute(insert(AUDIT_TABLE), list(rows))


async def insert_events_alone(database: Database, rows: Sequence[dict[str, Any]]) -> None:
    """Insert in a transaction of their own (on SQLite: one thread hand-off)."""
    await database.insert_rows(AUDIT_TABLE, rows)


async def chain_names(session: AsyncSession) -> list[str]:
    return list(
        (await session.execute(select(AuditEvent.chain).distinct().order_by(AuditEvent.chain))).scalars()
    )


async def events_after(session: AsyncSession, chain: str, seq: int, limit: int) -> list[AuditEvent]:
    """Up to `limit` rows of the chain after `seq`, in seq order."""
    rows = await session.execute(
        select(AuditEvent)
        .where(AuditEvent.chain == chain, AuditEvent.seq > seq)
        .order_by(AuditEvent.seq)
        .limit(limit)
    )
    return list(rows.scalars())


async def count_events(session: AsyncSession, chain: str | None = None) -> int:
    """Rows in every chain, or in one."""
    query = select(func.count()).select_from(AuditEvent)
    if chain is not None:
        query = query.where(AuditEvent.chain == chain)
    return int((await session.execute(query)).scalar_one())

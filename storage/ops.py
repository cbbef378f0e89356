"""The SQL of the ops jobs: the ops channel's workspace and message, the retention purge, the audit export."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from typing import Any

from sqlalchemy import delete, select

from storage.database import Database, affected_rows
from storage.models import AuditEvent, BankTransaction, Workspace
from storage.outbox import Envelope, enqueue
from storage.workspaces import ensure_workspace


async def post_once(
    database: Database,
    team_id: str | None,
    timezone: str,
    message: tuple[str, str, str, dict[str, Any]],
) -> bool | None:
    """Enqueue (key, kind, channel, payload) in the ops workspace; True if new, None if no workspace.

    Without a team id it is the one workspace that installed cashbot (single-workspace mode).
    """
    key, kind, channel, payload = message
    async with database.write() as session:
        if team_id is not None:
            workspace_id: int | None = (await ensure_workspace(session, team_id, timezone=timezone)).id
        else:
            workspace_id = await session.scalar(
                select(Workspace.id).where(Workspace.uninstalled_at.is_(None)).order_by(Workspace.id).limit(1)
            )
        if workspace_id is None:
            return None
        envelope = Envelope(key, workspace_id, kind, channel, payload)
        return await enqueue(session, [envelope], database.clock.now()) == 1


async def purge_transactions_before(database: Database, cutoff: dt.date) -> int:
    async with database.write() as session:
        result = await session.execute(delete(BankTransaction).where(BankTransaction.execution_date < cutoff))
    return affected_rows(result)


async def audit_rows_since(database: Database, start: dt.datetime) -> AsyncIterator[tuple[Any, ...]]:
    """(occurred_at, team_id, actor, action, outcome, channel_id, detail, chain, seq), oldest first."""
    async with database.read() as session:
        rows = await session.stream_scalars(
            select(AuditEvent)
            .where(AuditEvent.occurred_at >= start)
            .order_by(AuditEvent.occurred_at, AuditEvent.id)
        )
        async for row in rows:
            yield (
                row.occurred_at,
                row.team_id,
                row.actor,
                row.action,
                row.outcome,
                row.channel_id,
                row.detail,
                row.chain,
                row.seq,
            )

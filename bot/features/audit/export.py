"""`cashbot audit export`: the audit trail since a date as CSV, for the monthly access review."""

from __future__ import annotations

import csv
import datetime as dt
import io

from sqlalchemy import select

from storage.database import Database
from storage.models import AuditEvent

COLUMNS = ("occurred_at", "team_id", "actor", "action", "outcome", "channel_id", "detail", "chain", "seq")


async def export_csv(database: Database, since: dt.date) -> str:
    """Every event on or after `since` (UTC), oldest first, one CSV row each, with a header."""
    start = dt.datetime.combine(since, dt.time(), tzinfo=dt.UTC)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    async with database.read() as session:
        rows = await session.stream_scalars(
            select(AuditEvent)
            .where(AuditEvent.occurred_at >= start)
            .order_by(AuditEvent.occurred_at, AuditEvent.id)
        )
        async for row in rows:
            who = (row.occurred_at.isoformat(), row.team_id or "", row.actor, row.action, row.outcome)
            writer.writerow((*who, row.channel_id or "", row.detail, row.chain, row.seq))
    return out.getvalue()

"""`cashbot audit export`: the audit trail since a date as CSV, for the monthly access review."""

from __future__ import annotations

import csv
import datetime as dt
import io

from storage.database import Database
from storage.ops import audit_rows_since

COLUMNS = ("occurred_at", "team_id", "actor", "action", "outcome", "channel_id", "detail", "chain", "seq")


async def export_csv(database: Database, since: dt.date) -> str:
    """Every event on or after `since` (UTC), oldest first, one CSV row each, with a header."""
    start = dt.datetime.combine(since, dt.time(), tzinfo=dt.UTC)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    async for occurred_at, *rest in audit_rows_since(database, start):
        writer.writerow((occurred_at.isoformat(), *("" if value is None else value for value in rest)))
    return out.getvalue()

"""The digest's recent history for /cashbot status: sent, waiting, late, missed or refused by Slack."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from bot.features.digest.runner import digest_key
from storage import digest_queries as queries
from storage.database import Database

RECENT = 4


@dataclass(frozen=True)
class RunLine:
    """One period's digest as /cashbot status reports it."""

    period_key: str
    state: str  # "missed" | "sent" | "waiting" | "broken" | "failed"
    late: bool
    due_at: dt.datetime | None
    sent_at: dt.datetime | None
    error: str | None


async def recent_runs(
    database: Database, workspace_id: int, team_id: str, limit: int = RECENT
) -> list[RunLine]:
    async with database.read() as session:
        runs = await queries.recent_runs(session, workspace_id, limit)
        keys = [digest_key(team_id, run.period_key) for run in runs]
        messages = await queries.outbox_by_key(session, keys)
    lines = []
    for run in runs:
        message = messages.get(digest_key(team_id, run.period_key))
        state = run.state if message is None else _state(message.state)
        lines.append(
            RunLine(
                run.period_key,
                state,
                run.late,
                run.due_at,
                None if message is None else message.sent_at,
                None if message is None else message.error_code,
            )
        )
    return lines


def _state(outbox_state: str) -> str:
    return {"pending": "waiting", "sending": "waiting"}.get(outbox_state, outbox_state)

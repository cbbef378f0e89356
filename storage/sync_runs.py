"""Sync run rows: one per attempt at syncing a connection, opened running and closed with an outcome."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.domain import SyncOutcome
from storage.models import SyncRun


async def open_run(session: AsyncSession, run: SyncRun) -> int:
    """Insert the run (as running) and return its id."""
    session.add(run)
    await session.flush()
    return run.id


async def fail_running(
    session: AsyncSession, connection_id: int, now: dt.datetime, code: str, message: str
) -> None:
    """Close the connection's runs still marked running as failed, with `code` and `message`."""
    await session.execute(
        update(SyncRun)
        .where(SyncRun.connection_id == connection_id, SyncRun.outcome == SyncOutcome.RUNNING.value)
        .values(outcome=SyncOutcome.FAILED.value, finished_at=now, error_code=code, error_message=message)
    )


async def close_run(session: AsyncSession, run_id: int, **values: Any) -> None:
    """Record how the run ended (outcome, finished_at, counts, error, details)."""
    await session.execute(update(SyncRun).where(SyncRun.id == run_id).values(**values))

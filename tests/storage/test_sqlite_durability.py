"""The embedded SQLite database is configured for durability, and writers wait instead of failing."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import text

from bot.clock import SystemClock
from storage.database import Database
from storage.models import JobLease
from tests.harness import DatabaseFactory


@pytest.fixture
async def sqlite_db(databases: DatabaseFactory, tmp_path) -> Database:  # type: ignore[no-untyped-def]
    if databases.is_postgres:
        pytest.skip("SQLite-specific")
    return Database(await databases.fresh_url(), clock=SystemClock())


async def test_pragmas_are_applied_on_every_connection(sqlite_db: Database) -> None:
    async with sqlite_db.read() as session:
        journal = (await session.execute(text("PRAGMA journal_mode"))).scalar()
        synchronous = (await session.execute(text("PRAGMA synchronous"))).scalar()
        busy = (await session.execute(text("PRAGMA busy_timeout"))).scalar()
        foreign_keys = (await session.execute(text("PRAGMA foreign_keys"))).scalar()
    await sqlite_db.dispose()

    assert journal == "wal"
    assert synchronous == 2  # FULL
    assert busy >= 5000
    assert foreign_keys == 1


async def test_fifty_concurrent_writers_all_succeed_without_retries(sqlite_db: Database) -> None:
    async def write(n: int) -> None:
        async with sqlite_db.write() as session:
            # Read, then write: the pattern that fails with SQLITE_BUSY under a deferred BEGIN.
            await session.execute(text("SELECT COUNT(*) FROM job_lease"))
            now = sqlite_db.clock.now()
            session.add(JobLease(name=f"lease-{n}", owner="t", acquired_at=now, expires_at=now))

    await asyncio.gather(*(write(n) for n in range(50)))

    async with sqlite_db.read() as session:
        count = (await session.execute(text("SELECT COUNT(*) FROM job_lease"))).scalar()
    await sqlite_db.dispose()
    assert count == 50

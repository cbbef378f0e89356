"""`cashbot migrate --to REVISION` rolls the schema back and forward again, keeping the data."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import sys

from sqlalchemy import inspect, text

from bot.clock import SystemClock
from storage.database import Database
from storage.migrate import current_revision, head_revision
from tests.harness import DatabaseFactory

NOW = dt.datetime(2026, 12, 3, 9, 0, tzinfo=dt.UTC)


async def cashbot_migrate(url: str, *args: str) -> tuple[int, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CASHBOT_", "DATABASE_"))}
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot.app.cli",
        "migrate",
        *args,
        env={**env, "DATABASE_URL": url, "LOG_LEVEL": "WARNING"},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    async with asyncio.timeout(60):
        output, _ = await process.communicate()
    return process.returncode or 0, output.decode()


async def insert_rows(database: Database) -> None:
    async with database.write() as session:
        await session.execute(
            text(
                "INSERT INTO workspace (id, team_id, name, timezone, digest_enabled, digest_weekday,"
                " digest_time, created_at) VALUES (1, 'T1', 'Acme', 'Europe/Brussels', true, 0,"
                " '08:00', :now)"
            ),
            {"now": NOW},
        )
        await session.execute(
            text(
                "INSERT INTO sync_request (id, workspace_id, requested_by_user_id, created_at)"
                " VALUES (7, 1, 'U1', :now)"
            ),
            {"now": NOW},
        )


async def read_rows(database: Database) -> list[tuple[object, ...]]:
    async with database.engine.connect() as connection:
        result = await connection.execute(
            text(
                "SELECT w.team_id, w.name, r.id, r.requested_by_user_id FROM workspace w"
                " JOIN sync_request r ON r.workspace_id = w.id"
            )
        )
        return [tuple(row) for row in result]


async def table_names(database: Database) -> set[str]:
    async with database.engine.connect() as connection:
        return set(await connection.run_sync(lambda c: inspect(c).get_table_names()))


async def test_migrate_down_and_up_again_keeps_the_data(databases: DatabaseFactory) -> None:
    url = await databases.empty_url()
    assert (await cashbot_migrate(url))[0] == 0
    database = Database(url, clock=SystemClock())
    try:
        await insert_rows(database)

        code, output = await cashbot_migrate(url, "--to", "0003")
        assert code == 0, output
        assert f"moved from {head_revision()} to revision 0003" in output
        assert await current_revision(database) == "0003"
        assert "incident" not in await table_names(database), "the newer tables are gone"
        assert await read_rows(database) == [("T1", "Acme", 7, "U1")]

        code, output = await cashbot_migrate(url, "--to", "head")
        assert code == 0, output
        assert await current_revision(database) == head_revision()
        assert {"incident", "outbox_message"} <= await table_names(database)
        assert await read_rows(database) == [("T1", "Acme", 7, "U1")]
    finally:
        await database.dispose()


async def test_an_unknown_revision_is_refused_and_changes_nothing(databases: DatabaseFactory) -> None:
    url = await databases.empty_url()
    assert (await cashbot_migrate(url, "--to", "0002"))[0] == 0

    code, output = await cashbot_migrate(url, "--to", "0099")

    assert code == 1 and "no migration '0099'" in output and "Traceback" not in output
    database = Database(url, clock=SystemClock())
    try:
        assert await current_revision(database) == "0002"
    finally:
        await database.dispose()

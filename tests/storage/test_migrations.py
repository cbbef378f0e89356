"""Migrations run from an empty database to head, repeatably, and match the models exactly."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from bot.clock import SystemClock
from storage.database import Database
from storage.migrate import current_revision, head_revision, upgrade_to_head
from storage.models import Base
from tests.harness import DatabaseFactory


async def test_migrations_run_from_empty_to_head_twice(databases: DatabaseFactory) -> None:
    database = Database(await databases.empty_url(), clock=SystemClock())
    try:
        assert await current_revision(database) is None
        await upgrade_to_head(database)
        await upgrade_to_head(database)  # a second run changes nothing and does not fail
        assert await current_revision(database) == head_revision()
        async with database.engine.connect() as connection:
            tables = set(await connection.run_sync(lambda c: inspect(c).get_table_names()))
        assert set(Base.metadata.tables) <= tables
    finally:
        await database.dispose()


async def test_models_and_migrations_do_not_drift(databases: DatabaseFactory) -> None:
    database = Database(await databases.empty_url(), clock=SystemClock())
    try:
        await upgrade_to_head(database)
        async with database.engine.connect() as connection:
            diff = await connection.run_sync(
                lambda c: compare_metadata(
                    MigrationContext.configure(c, opts={"compare_type": True}), Base.metadata
                )
            )
        assert diff == [], f"models differ from migrations; write a migration: {diff}"
    finally:
        await database.dispose()

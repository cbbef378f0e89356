"""Alembic driven from code: upgrade to head, and tell whether a database is at head."""

from __future__ import annotations

import asyncio
from importlib import resources

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection

from bot.clock import Clock
from storage.database import Database


def alembic_config(url: str) -> Config:
    """An Alembic config pointing at the migrations shipped inside the `storage` package."""
    config = Config()
    config.set_main_option("script_location", str(resources.files("storage") / "migrations"))
    config.set_main_option("sqlalchemy.url", url)
    return config


def head_revision() -> str:
    heads = ScriptDirectory.from_config(alembic_config("sqlite://")).get_heads()
    if len(heads) != 1:
        raise RuntimeError(f"migrations have {len(heads)} heads; merge them")
    return heads[0]


async def upgrade_to_head(database: Database) -> None:
    """Apply every pending migration (idempotent)."""
    config = alembic_config(database.url)

    def _upgrade(connection: Connection) -> None:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")

    async with database.engine.connect() as connection:
        await connection.run_sync(_upgrade)
        await connection.commit()


async def current_revision(database: Database) -> str | None:
    def _current(connection: Connection) -> str | None:
        return MigrationContext.configure(connection).get_current_revision()

    async with database.engine.connect() as connection:
        return await connection.run_sync(_current)


def upgrade_sync(url: str, clock: Clock) -> None:
    """Blocking wrapper for the CLI."""

    async def _go() -> None:
        database = Database(url, clock=clock)
        try:
            await upgrade_to_head(database)
        finally:
            await database.dispose()

    asyncio.run(_go())

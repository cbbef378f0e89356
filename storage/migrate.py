"""Alembic driven from code: upgrade to head or move to any revision, and tell where a database is."""

from __future__ import annotations

import asyncio
from importlib import resources

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy.engine import Connection

from bot.clock import Clock
from bot.errors import UserError
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


def resolve_revision(target: str) -> str | None:
    """The revision id `target` names ("head", "base" or an id or unique prefix); None is base."""
    script = ScriptDirectory.from_config(alembic_config("sqlite://"))
    if target == "base":
        return None
    if target == "head":
        return head_revision()
    try:
        revision = script.get_revision(target)
    except CommandError as error:  # an unknown or ambiguous prefix
        raise UserError(f"no migration {target!r}: {error}") from None
    if revision is None:
        raise UserError(f"no migration {target!r}; `cashbot migrate --list` shows them")
    return str(revision.revision)


def revisions() -> list[tuple[str, str]]:
    """Every migration, oldest first, as (revision, its one-line message)."""
    script = ScriptDirectory.from_config(alembic_config("sqlite://"))
    return [(str(r.revision), str(r.doc or "")) for r in reversed(list(script.walk_revisions()))]


def _position(revision: str | None) -> int:
    """0 for an empty schema, n for the n-th migration."""
    order = [rev for rev, _ in revisions()]
    return 0 if revision is None else order.index(revision) + 1


async def migrate_to(database: Database, target: str) -> tuple[str | None, str | None]:
    """Upgrade or downgrade to `target`, whichever way it lies; returns (from, to)."""
    wanted = resolve_revision(target)
    current = await current_revision(database)
    if _position(wanted) == _position(current):
        return current, wanted
    direction = command.upgrade if _position(wanted) > _position(current) else command.downgrade
    config = alembic_config(database.url)

    def _move(connection: Connection) -> None:
        config.attributes["connection"] = connection
        direction(config, wanted or "base")

    async with database.engine.connect() as connection:
        await connection.run_sync(_move)
        await connection.commit()
    return current, wanted


def upgrade_sync(url: str, clock: Clock, target: str = "head") -> tuple[str | None, str | None]:
    """Blocking wrapper for the CLI: move the database at `url` to `target`."""

    async def _go() -> tuple[str | None, str | None]:
        database = Database(url, clock=clock)
        try:
            return await migrate_to(database, target)
        finally:
            await database.dispose()

    return asyncio.run(_go())

"""Alembic environment: runs migrations over the async engine of DATABASE_URL."""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy.engine import Connection

from bot.clock import SystemClock
from storage.database import Database
from storage.models import Base

target_metadata = Base.metadata


def _run(connection: Connection) -> None:
    # Batch migrations on SQLite recreate a table (copy, DROP, rename); with foreign keys on, that
    # DROP deletes every row referring to it (ON DELETE CASCADE), so a migration of `workspace`
    # would empty its child tables. SQLite ignores this pragma inside a transaction: before BEGIN.
    sqlite = connection.dialect.name == "sqlite" and not connection.in_transaction()
    if sqlite:
        _pragma(connection, "PRAGMA foreign_keys=OFF")
    try:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            render_as_batch=True,
            compare_type=True,
        )
        with context.begin_transaction():
            context.run_migrations()
            if sqlite and _pragma(connection, "PRAGMA foreign_key_check"):
                raise RuntimeError("a migration left rows whose foreign key points nowhere")
    finally:
        if sqlite:
            _pragma(connection, "PRAGMA foreign_keys=ON")


def _pragma(connection: Connection, statement: str) -> list[tuple[object, ...]]:
    """Run a pragma on the driver connection, outside SQLAlchemy's transaction bookkeeping."""
    cursor = connection.connection.cursor()
    try:
        cursor.execute(statement)
        return list(cursor.fetchall())
    finally:
        cursor.close()


async def _run_async(url: str) -> None:
    # Run by Alembic's own command line: this is an entry point, so it brings the system clock.
    database = Database(url, clock=SystemClock())
    try:
        async with database.engine.connect() as connection:
            await connection.run_sync(_run)
            await connection.commit()
    finally:
        await database.dispose()


def run() -> None:
    connection = context.config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    asyncio.run(_run_async(context.config.get_main_option("sqlalchemy.url") or ""))


if context.is_offline_mode():
    raise SystemExit("cashbot migrations run online only: use `cashbot migrate`")
run()

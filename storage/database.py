"""The async engine and sessions; SQLite is tuned for durability, PostgreSQL runs the same code."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeAlias, cast

from sqlalchemy import Table, event, insert, text
from sqlalchemy.engine import Connection as SyncConnection
from sqlalchemy.engine import CursorResult, Result, make_url
from sqlalchemy.exc import DBAPIError, IntegrityError, InterfaceError, InternalError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from bot.clock import Clock
from bot.errors import ConstraintViolation, StorageUnavailable
from storage.files import private_file
from storage.models.base import CLOCK_OPTION
from storage.sqlite_writer import SqliteBulkWriter

log = logging.getLogger(__name__)

# Errors that mean "the database is not there for us right now", as opposed to a bug.
UNAVAILABLE_ERRORS = (OperationalError, InterfaceError, InternalError, PoolTimeout, OSError)
# PostgreSQL states with the same meaning that asyncpg reports as a plain DBAPIError: read-only
# transaction, disk full, out of memory, too many connections, shutting down, connection lost.
UNAVAILABLE_SQLSTATES = ("25006", "53", "57P", "08")

# What features type a session as, so that only storage imports sqlalchemy.
Session: TypeAlias = AsyncSession


def is_unavailable(error: BaseException) -> bool:
    """True when an error means the database cannot serve us now (not a bug in a query)."""
    if isinstance(error, UNAVAILABLE_ERRORS):
        return True
    if isinstance(error, DBAPIError):
        state = str(getattr(error.orig, "sqlstate", "") or getattr(error.orig, "pgcode", "") or "")
        return state.startswith(UNAVAILABLE_SQLSTATES)
    return False


SQLITE_BUSY_TIMEOUT_MS = 5000


class Database:
    """Owns the engine; hands out read sessions and serialised write transactions."""

    def __init__(self, url: str, *, clock: Clock, pool_size: int = 10) -> None:
        self.url = url
        self.clock = clock
        self.is_sqlite = make_url(url).get_backend_name() == "sqlite"
        self.engine: AsyncEngine = create_async_engine(
            # Column defaults (created_at, updated_at …) read the time from this option.
            url,
            execution_options={CLOCK_OPTION: clock},
            **_engine_options(self.is_sqlite, pool_size),
        )
        if self.is_sqlite:
            _install_sqlite_durability(self.engine)
        # On SQLite a write transaction takes the write lock up front (BEGIN IMMEDIATE): a
        # deferred BEGIN that reads then writes can fail with SQLITE_BUSY_SNAPSHOT, which
        # busy_timeout does not cover.
        writer = self.engine.execution_options(cashbot_begin="IMMEDIATE")
        self._reader = async_sessionmaker(self.engine, expire_on_commit=False)
        self._writer = async_sessionmaker(writer, expire_on_commit=False)
        self._bulk: SqliteBulkWriter | None = None

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncSession]:
        """A session for reads; nothing it does is committed."""
        try:
            async with self._reader() as session:
                yield session
        except (*UNAVAILABLE_ERRORS, DBAPIError) as error:
            if not is_unavailable(error):
                raise
            raise _unavailable(error) from error

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncSession]:
        """One write transaction: committed when the block ends, rolled back on any error.

        A unique key collision surfaces as ConstraintViolation, so callers need not know sqlalchemy.
        """
        try:
            async with self._writer() as session, session.begin():
                yield session
        except IntegrityError as error:
            raise ConstraintViolation(_short_reason(error)) from error
        except (*UNAVAILABLE_ERRORS, DBAPIError) as error:
            if not is_unavailable(error):
                raise
            raise _unavailable(error) from error

    async def ping(self) -> None:
        """Raise StorageUnavailable unless the database answers a trivial query."""
        async with self.read() as session:
            await session.execute(text("SELECT 1"))

    async def can_write(self) -> bool:
        """Try a real write (a no-op update, rolled back): catches read-only files and replicas."""
        try:
            async with self.engine.execution_options(cashbot_begin="IMMEDIATE").connect() as connection:
                transaction = await connection.begin()
                try:
                    await connection.execute(text("UPDATE alembic_version SET version_num = version_num"))
                finally:
                    await transaction.rollback()
        except (*UNAVAILABLE_ERRORS, DBAPIError):
            return False
        return True

    async def insert_rows(self, table: Table, rows: Sequence[dict[str, Any]]) -> None:
        """Insert rows in one write transaction of their own (on SQLite: one thread hand-off)."""
        if not self.is_sqlite:
            async with self.write() as session:
                await session.execute(insert(table), list(rows))
            return
        if self._bulk is None:
            self._bulk = SqliteBulkWriter(self.url, self.engine.dialect)
        try:
            await self._bulk.insert(table, rows)
        except IntegrityError as error:
            raise ConstraintViolation(_short_reason(error)) from error

    def sqlite_file(self) -> Path | None:
        """The SQLite database's file, resolved; None for PostgreSQL or an in-memory database."""
        name = make_url(self.url).database if self.is_sqlite else None
        if not name or name == ":memory:":
            return None
        return Path(name).resolve()

    async def dispose(self) -> None:
        if self._bulk is not None:
            await self._bulk.close()
            self._bulk = None
        await self.engine.dispose()


def session_now(session: AsyncSession) -> dt.datetime:
    """The time of the clock of the Database this session belongs to."""
    clock: Clock = session.sync_session.get_bind().get_execution_options()[CLOCK_OPTION]
    return clock.now()


def affected_rows(result: Result[Any]) -> int:
    """How many rows an UPDATE or DELETE touched (the basis of every compare-and-swap here)."""
    return int(cast("CursorResult[Any]", result).rowcount)


def _engine_options(is_sqlite: bool, pool_size: int) -> dict[str, Any]:
    if is_sqlite:
        return {"connect_args": {"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}}
    return {"pool_size": pool_size, "max_overflow": pool_size, "pool_pre_ping": True}


def _keep_private(cursor: Any) -> None:
    """The database file (and so its -wal and -shm, which SQLite creates with the file's own mode)
    is readable by its owner only, whatever the umask was when it was created."""
    cursor.execute("PRAGMA database_list")
    for _, name, filename in cursor.fetchall():
        if name == "main" and filename:
            private_file(Path(filename))


def _install_sqlite_durability(engine: AsyncEngine) -> None:
    """WAL, synchronous=FULL, a busy timeout and foreign keys on every new SQLite connection."""

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take over transaction control from the driver so BEGIN is ours to emit.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        _keep_private(cursor)
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            mode = cursor.fetchone()[0]
            if str(mode).lower() != "wal":
                log.error("sqlite.wal_unavailable", extra={"journal_mode": mode})
            cursor.execute("PRAGMA synchronous=FULL")
            cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
            cursor.execute("PRAGMA foreign_keys=ON")
        finally:
            cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: SyncConnection) -> None:
        mode = connection.get_execution_options().get("cashbot_begin", "DEFERRED")
        connection.exec_driver_sql(f"BEGIN {mode}")


def _unavailable(error: Exception) -> StorageUnavailable:
    reason = _short_reason(error)
    log.warning("storage.unavailable", extra={"reason": reason})
    return StorageUnavailable(reason)


def _short_reason(error: Exception) -> str:
    """The driver's first line, without SQL text or bound parameters (they may hold secrets)."""
    original = getattr(error, "orig", None) or error
    return f"{type(original).__name__}: {str(original).splitlines()[0][:200]}"

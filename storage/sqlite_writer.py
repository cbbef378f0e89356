"""Bulk inserts into SQLite in one hand-off to a thread, for the hot paths that append many rows.

Through aiosqlite, one small write transaction crosses between the event loop and the driver's
thread about seven times (begin, cursor, executemany, close, commit), and those crossings cost
more CPU than SQLite's own work. Here the whole transaction (BEGIN IMMEDIATE, executemany,
COMMIT) runs as one call on a thread of its own, with a plain sqlite3 connection configured
exactly like the engine's (WAL, synchronous=FULL, busy_timeout, foreign keys).

Values are converted by the columns' own SQLAlchemy bind processors, so a row is stored exactly
as an ORM insert would store it. Constraint violations surface as sqlalchemy's IntegrityError,
anything else from SQLite as StorageUnavailable, like the rest of storage.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from sqlalchemy import Table, bindparam, insert
from sqlalchemy.engine import Dialect, make_url
from sqlalchemy.exc import IntegrityError

from bot.errors import StorageUnavailable

BUSY_TIMEOUT_MS = 5000
Prepared = tuple[str, list[tuple[Any, ...]]]
Statement = tuple[str, tuple[str, ...], list[Any]]  # sql, parameter order, bind processors


class SqliteBulkWriter:
    """Inserts rows of one table in one transaction, on a dedicated thread and connection."""

    def __init__(self, url: str, dialect: Dialect) -> None:
        self._target, self._uri = _connect_target(url)
        self._dialect = dialect
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="cashbot-sqlite-writer")
        self._connection: sqlite3.Connection | None = None
        self._statements: dict[tuple[str, tuple[str, ...]], Statement] = {}

    async def insert(self, table: Table, rows: Sequence[dict[str, Any]]) -> None:
        """Insert `rows` (dicts with the same keys) and commit; one thread hand-off in all."""
        if not rows:
            return
        prepared = self._prepare(table, rows)
        await asyncio.get_running_loop().run_in_executor(self._executor, self._write, prepared)

    def _prepare(self, table: Table, rows: Sequence[dict[str, Any]]) -> Prepared:
        key = (table.name, tuple(rows[0]))
        if key not in self._statements:
            self._statements[key] = self._compile(table, key[1])
        sql, order, processors = self._statements[key]
        values = [
            tuple(
                value if process is None else process(value)
                for process, value in zip(processors, (row[name] for name in order), strict=True)
            )
            for row in rows
        ]
        return sql, values

    def _compile(self, table: Table, names: tuple[str, ...]) -> Statement:
        """The INSERT as SQLAlchemy writes it for SQLite, its parameter order, the columns' converters."""
        compiled = (
            insert(table).values({name: bindparam(name) for name in names}).compile(dialect=self._dialect)
        )
        order = tuple(compiled.positiontup or names)
        processors = [table.c[name].type.bind_processor(self._dialect) for name in order]
        return str(compiled), order, processors

    def _write(self, prepared: Prepared) -> None:
        sql, values = prepared
        connection = self._connect()
        try:
            connection.execute("BEGIN IMMEDIATE")
            try:
                connection.executemany(sql, values)
                connection.execute("COMMIT")
            except BaseException:
                connection.execute("ROLLBACK")
                raise
        except sqlite3.IntegrityError as error:
            raise IntegrityError(sql, None, error) from None
        except sqlite3.Error as error:
            raise StorageUnavailable(f"{type(error).__name__}: {str(error)[:200]}") from None

    def _connect(self) -> sqlite3.Connection:
        if self._connection is None:
            connection = sqlite3.connect(self._target, uri=self._uri, isolation_level=None)
            for pragma in (
                "journal_mode=WAL",
                "synchronous=FULL",
                f"busy_timeout={BUSY_TIMEOUT_MS}",
                "foreign_keys=ON",
            ):
                connection.execute(f"PRAGMA {pragma}")
            self._connection = connection
        return self._connection

    async def close(self) -> None:
        def close_connection() -> None:
            if self._connection is not None:
                self._connection.close()
                self._connection = None

        await asyncio.get_running_loop().run_in_executor(self._executor, close_connection)
        self._executor.shutdown(wait=False)


def _connect_target(url: str) -> tuple[str, bool]:
    """What sqlite3.connect needs for a SQLAlchemy SQLite URL (a path, or a file: URI)."""
    parsed = make_url(url)
    database = parsed.database or ""
    query = {k: v for k, v in parsed.query.items() if k != "uri"}
    if str(parsed.query.get("uri", "")).lower() == "true":
        params = "&".join(f"{k}={v}" for k, v in query.items())
        return (f"{database}?{params}" if params else database), True
    return database, False

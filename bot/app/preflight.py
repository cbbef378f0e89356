"""Start-up checks that turn a bad DATABASE_URL, an unmigrated database or a busy port into one line."""

from __future__ import annotations

import asyncio
import errno
import logging
import socket
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from bot.clock import Clock
from bot.errors import ConfigError, StorageUnavailable
from storage.database import Database
from storage.migrate import current_revision, head_revision

# A database that does not answer within this long is reported, not waited on (asyncpg would
# wait a minute for a host that drops packets).
CONNECT_TIMEOUT_SECONDS = 10.0


def check_sqlite_folder(url: str) -> None:
    """A SQLite file in a folder that does not exist cannot be created: say so before anything opens it."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return
    folder = Path(parsed.database).expanduser().absolute().parent
    if not folder.is_dir():
        raise ConfigError(
            "DATABASE_URL",
            f"points to a SQLite file in a folder that does not exist ({folder})",
            "create the folder, or point DATABASE_URL at one that exists",
        )


async def check_database(url: str, clock: Clock, *, need_schema: bool) -> None:
    """Raise one readable error unless the database answers (and, if asked, is migrated)."""
    check_sqlite_folder(url)
    database = Database(url, clock=clock, pool_size=1)
    try:
        try:
            # The engine itself, not Database.ping: its warning would be a second line.
            async with asyncio.timeout(CONNECT_TIMEOUT_SECONDS), database.engine.connect() as connection:
                await connection.execute(text("SELECT 1"))
        except (TimeoutError, DBAPIError, OSError) as error:
            # At connect time every driver error (refused, unknown database, bad password) is
            # about DATABASE_URL or the server, never about a query of ours.
            raise StorageUnavailable(_unreachable(url, error)) from None
        if need_schema:
            await _check_schema(database)
    finally:
        await database.dispose()


async def _check_schema(database: Database) -> None:
    alembic = logging.getLogger("alembic")
    level = alembic.level
    alembic.setLevel(logging.WARNING)  # "Context impl SQLiteImpl." is no news to the reader
    try:
        revision = await current_revision(database)
    finally:
        alembic.setLevel(level)
    if revision is None:
        raise StorageUnavailable("the database has no cashbot tables yet: run `cashbot migrate` first")
    if revision != head_revision():
        raise StorageUnavailable(
            f"the database schema is at {revision}, this cashbot needs {head_revision()}:"
            " run `cashbot migrate` first"
        )


def _unreachable(url: str, error: BaseException) -> str:
    parsed = make_url(url)
    reason = _reason(error)
    if parsed.get_backend_name() == "sqlite":
        return f"cannot open the SQLite database {parsed.database} ({reason}): check DATABASE_URL"
    where = f"{parsed.host or 'localhost'}:{parsed.port or 5432}"
    return f"cannot use the database at {where} ({reason}): start it, or fix DATABASE_URL"


def _reason(error: BaseException) -> str:
    original = getattr(error, "orig", None) or error
    if isinstance(error, TimeoutError):
        return f"no answer in {CONNECT_TIMEOUT_SECONDS:.0f} s"
    if isinstance(original, ConnectionRefusedError):
        return "connection refused"
    return str(original).splitlines()[0][:200] if str(original) else type(original).__name__


def bind_listening_socket(host: str, port: int) -> socket.socket:
    """Take the port before anything starts, so a busy one stops start-up with one line."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as error:
        sock.close()
        if error.errno == errno.EADDRINUSE:
            raise ConfigError(
                "PORT", f"{port} is already in use on {host}", "stop what holds it, or set PORT to a free one"
            ) from None
        raise ConfigError(
            "HOST", f"{host}:{port} cannot be listened on ({error.strerror})", "check HOST and PORT"
        ) from None
    return sock

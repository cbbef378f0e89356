"""Consistent database copies (SQLite online backup, pg_dump on one snapshot) and putting them back."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import shutil
import sqlite3
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import func, select, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.clock import Clock
from bot.errors import CashbotError
from storage.database import Database
from storage.files import create_private
from storage.migrate import current_revision
from storage.models import AuditEvent, Base


class BackupError(CashbotError):
    """A backup or restore step failed (the message says which)."""


@dataclass(frozen=True)
class Facts:
    """What a database held at the moment of the copy: the baseline a restore is checked against."""

    schema_revision: str | None
    row_counts: dict[str, int]
    audit_heads: dict[str, tuple[int, str]]


async def read_facts(connection: AsyncConnection) -> Facts:
    """Row counts and audit-chain heads, read inside the caller's transaction (one snapshot)."""
    counts = {}
    for table in Base.metadata.sorted_tables:
        counts[table.name] = int(
            (await connection.execute(select(func.count()).select_from(table))).scalar_one()
        )
    latest = (
        select(AuditEvent.chain, func.max(AuditEvent.seq).label("seq")).group_by(AuditEvent.chain).subquery()
    )
    heads = (
        await connection.execute(
            select(AuditEvent.chain, AuditEvent.seq, AuditEvent.row_hash).join(
                latest, (AuditEvent.chain == latest.c.chain) & (AuditEvent.seq == latest.c.seq)
            )
        )
    ).all()
    revision = (
        await connection.execute(text("SELECT version_num FROM alembic_version"))
    ).scalar_one_or_none()
    return Facts(revision, counts, {chain: (seq, row_hash) for chain, seq, row_hash in heads})


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def sqlite_integrity(path: Path) -> tuple[bool, str]:
    """Whether SQLite's integrity and foreign key checks pass on the file, and what they said."""
    connection = sqlite3.connect(path)
    try:
        integrity = connection.execute("PRAGMA integrity_check").fetchone()[0]
        orphans = connection.execute("PRAGMA foreign_key_check").fetchall()
    except sqlite3.DatabaseError as error:
        return False, str(error)
    finally:
        connection.close()
    return integrity == "ok" and not orphans, f"integrity={integrity}, orphans={len(orphans)}"


def sqlite_path(database: Database) -> Path:
    name = make_url(database.url).database
    if not name or name == ":memory:":
        raise BackupError("an in-memory SQLite database cannot be backed up")
    return Path(name)


def _copy_sqlite(source: Path, target: Path) -> None:
    """SQLite's online backup API: a consistent copy while others keep reading and writing."""
    partial = target.with_suffix(target.suffix + ".partial")
    create_private(partial)  # an empty file is an empty database to SQLite; its mode is kept
    src = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
    dst = sqlite3.connect(partial)
    try:
        src.backup(dst)  # one step: a stepped copy restarts whenever someone writes, forever on a busy bot
        dst.execute("PRAGMA journal_mode=DELETE")  # a backup is one self-contained file
    finally:
        dst.close()
        src.close()
    with partial.open("rb") as handle:
        os.fsync(handle.fileno())
    partial.replace(target)


async def backup_sqlite(database: Database, target: Path) -> Facts:
    """Copy the database to `target` and read the facts from the copy itself (exactly what it holds)."""
    await asyncio.to_thread(_copy_sqlite, sqlite_path(database), target)
    copy = Database(f"sqlite+aiosqlite:///{target}", clock=database.clock)
    try:
        async with copy.engine.connect() as connection:
            return await read_facts(connection)
    finally:
        await copy.dispose()


def libpq_env(url: str) -> dict[str, str]:
    """Connection settings for pg_dump/pg_restore, passed in the environment (not on the command line)."""
    parsed: URL = make_url(url)
    env = {
        "PGHOST": parsed.host or "",
        "PGPORT": str(parsed.port or 5432),
        "PGUSER": parsed.username or "",
        "PGDATABASE": parsed.database or "",
    }
    if parsed.password:
        env["PGPASSWORD"] = str(parsed.password)
    return {**os.environ, **{k: v for k, v in env.items() if v}}


async def _run(argv: list[str], env: dict[str, str]) -> None:
    if shutil.which(argv[0]) is None:
        raise BackupError(f"{argv[0]} is not installed; install the PostgreSQL client tools")
    process = await asyncio.create_subprocess_exec(
        *argv, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    _, errors = await process.communicate()
    if process.returncode != 0:
        raise BackupError(f"{argv[0]} failed: {errors.decode(errors='replace').strip()[:500]}")


async def backup_postgres(database: Database, target: Path) -> Facts:
    """pg_dump of one exported snapshot, with the facts read in that same snapshot."""
    async with database.engine.connect() as connection:
        snapshot_connection = await connection.execution_options(isolation_level="REPEATABLE READ")
        async with snapshot_connection.begin():
            snapshot = (await snapshot_connection.execute(text("SELECT pg_export_snapshot()"))).scalar_one()
            facts = await read_facts(snapshot_connection)
            await asyncio.to_thread(create_private, target)  # pg_dump keeps an existing file's mode
            argv = ["pg_dump", "--format=custom", f"--snapshot={snapshot}", f"--file={target}"]
            await _run(argv, libpq_env(database.url))
    return facts


async def restore_postgres(dump: Path, url: str) -> None:
    env = libpq_env(url)
    await _run(
        [
            "pg_restore",
            "--clean",
            "--if-exists",
            "--no-owner",
            "--exit-on-error",
            f"--dbname={env['PGDATABASE']}",
            str(dump),
        ],
        env,
    )


@contextlib.asynccontextmanager
async def scratch_postgres(url: str, clock: Clock) -> AsyncIterator[str]:
    """A throwaway database next to `url`'s, dropped afterwards."""
    name = f"cashbot_verify_{uuid.uuid4().hex[:10]}"
    admin = Database(url, clock=clock)
    try:
        async with admin.engine.connect() as connection:
            autocommit = await connection.execution_options(isolation_level="AUTOCOMMIT")
            await autocommit.execute(text(f'CREATE DATABASE "{name}"'))
        yield make_url(url).set(database=name).render_as_string(hide_password=False)
    finally:
        async with admin.engine.connect() as connection:
            autocommit = await connection.execution_options(isolation_level="AUTOCOMMIT")
            await autocommit.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await admin.dispose()


async def schema_revision(database: Database) -> str | None:
    return await current_revision(database)

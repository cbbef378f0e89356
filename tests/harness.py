"""Test harness: fresh databases (SQLite file or PostgreSQL), and the bot served on loopback."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import asyncpg
from sqlalchemy import text
from sqlalchemy.engine import make_url

from bot.app.runtime import Runtime
from bot.app.web import create_app
from bot.app.wiring import build_runtime
from bot.clock import Clock, SystemClock
from bot.config import Settings
from bot.sandbox.server import LoopbackServer
from bot.sandbox.slack import SlackSimulator
from bot.sandbox.slack_requests import SlackRequests
from storage.crypto import generate_key
from storage.database import Database
from storage.migrate import upgrade_to_head
from storage.models import Base

SIGNING_SECRET = "test-signing-secret"
AUDIT_KEY = "test-audit-key-0123456789abcdef0123456789"


def postgres_admin_url() -> str | None:
    """TEST_DATABASE_URL, when the suite should run on PostgreSQL (CI sets it)."""
    return os.environ.get("TEST_DATABASE_URL") or None


class DatabaseFactory:
    """Hands each test an empty, migrated database of the kind this run is for."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.admin_url = postgres_admin_url()
        self._template: Path | None = None
        self._pg_url: str | None = None
        self._created: list[str] = []  # only these are dropped: other test runs share the server

    @property
    def is_postgres(self) -> bool:
        return self.admin_url is not None

    async def prepare(self) -> None:
        if self.admin_url is None:
            self._template = self.workdir / "template.db"
            database = Database(f"sqlite+aiosqlite:///{self._template}", clock=SystemClock())
            await upgrade_to_head(database)
            await database.dispose()
            return
        name = f"cashbot_test_{uuid.uuid4().hex[:10]}"
        await _pg_admin(self.admin_url, f'CREATE DATABASE "{name}"')
        self._created.append(name)
        self._pg_url = (
            make_url(_async_url(self.admin_url)).set(database=name).render_as_string(hide_password=False)
        )
        database = Database(self._pg_url, clock=SystemClock())
        await upgrade_to_head(database)
        await database.dispose()

    async def fresh_url(self) -> str:
        """A database URL whose tables are empty."""
        if self._template is not None:
            path = self.workdir / f"db-{uuid.uuid4().hex[:8]}.db"
            shutil.copyfile(self._template, path)
            return f"sqlite+aiosqlite:///{path}"
        assert self._pg_url is not None
        database = Database(self._pg_url, clock=SystemClock())
        tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
        async with database.write() as session:
            await session.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
        await database.dispose()
        return self._pg_url

    async def empty_url(self) -> str:
        """A database with no schema at all (for migration tests)."""
        if self.admin_url is None:
            return f"sqlite+aiosqlite:///{self.workdir / f'empty-{uuid.uuid4().hex[:8]}.db'}"
        name = f"cashbot_empty_{uuid.uuid4().hex[:10]}"
        await _pg_admin(self.admin_url, f'CREATE DATABASE "{name}"')
        self._created.append(name)
        return make_url(_async_url(self.admin_url)).set(database=name).render_as_string(hide_password=False)

    async def read_only_url(self) -> str:
        """A migrated database that refuses writes: an ro SQLite file or a read-only PG database."""
        if self._template is not None:
            path = self.workdir / f"ro-{uuid.uuid4().hex[:8]}.db"
            shutil.copyfile(self._template, path)
            return f"sqlite+aiosqlite:///file:{path}?mode=ro&uri=true"
        url = await self.empty_url()
        database = Database(url, clock=SystemClock())
        await upgrade_to_head(database)
        await database.dispose()
        name = make_url(url).database
        assert self.admin_url is not None
        await _pg_admin(self.admin_url, f'ALTER DATABASE "{name}" SET default_transaction_read_only = on')
        return url

    async def cleanup(self) -> None:
        if self.admin_url is None:
            return
        conn = await asyncpg.connect(_plain_url(self.admin_url))
        try:
            for name in self._created:
                await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await conn.close()


def _async_url(url: str) -> str:
    return Settings.from_env({"DATABASE_URL": url}).database_url


def _plain_url(url: str) -> str:
    return make_url(_async_url(url)).set(drivername="postgresql").render_as_string(hide_password=False)


async def _pg_admin(admin_url: str, statement: str) -> None:
    conn = await asyncpg.connect(_plain_url(admin_url))
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


def bot_settings(database_url: str, slack: SlackSimulator, **overrides: Any) -> Settings:
    """Settings for a bot under test: throwaway keys, Slack pointed at the simulator."""
    base = Settings(
        slack_signing_secret=SIGNING_SECRET,
        slack_bot_token=slack.issue_bot_token(),
        slack_api_url=slack.base_url + "/api/",
        slack_authorize_url=slack.base_url + "/oauth/v2/authorize",
        public_url="http://127.0.0.1:3000",
        database_url=database_url,
        encryption_keys=(generate_key(),),
        audit_key=AUDIT_KEY,
    )
    return replace(base, **overrides)


@dataclass
class BotUnderTest:
    """A running bot: its URL, its runtime, and a Slack client that signs requests for it."""

    url: str
    runtime: Runtime
    slack: SlackRequests
    sim: SlackSimulator

    @property
    def settings(self) -> Settings:
        return self.runtime.core.settings


@asynccontextmanager
async def running_bot(
    settings: Settings,
    sim: SlackSimulator,
    *,
    clock: Clock | None = None,
    customize: Callable[[Runtime], None] | None = None,
    disk_free: Callable[[Path], int] | None = None,
) -> AsyncIterator[BotUnderTest]:
    """Serve the bot on a loopback port with its real HTTP stack, for the length of the block.

    `clock` is the bot's one clock (the machine's by default); the Slack client signs its
    requests with the same clock, as Slack and the bot agree on the time.
    """
    server = LoopbackServer(lifespan="on")
    # PUBLIC_URL names the reserved port, so every redirect URI the bot builds points at it.
    runtime = build_runtime(replace(settings, public_url=server.url), clock=clock, disk_free=disk_free)
    if customize is not None:
        customize(runtime)
    await server.start(create_app(runtime))
    requests = SlackRequests(
        server.url, SIGNING_SECRET, response_url_factory=sim.new_response_url, clock=runtime.core.clock
    )
    try:
        yield BotUnderTest(server.url, runtime, requests, sim)
    finally:
        await requests.aclose()
        await server.stop()

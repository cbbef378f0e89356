"""The outbox table: one row per message and key, leased to one sender at a time, settled after Slack."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import Clock
from storage.database import Database, affected_rows
from storage.models import OutboxMessage, Workspace

PENDING = "pending"
SENDING = "sending"  # an attempt was started; whether Slack posted it is not known yet
SENT = "sent"
BROKEN = "broken"
FAILED = "failed"


@dataclass(frozen=True)
class Envelope:
    """What to send: a message (text, blocks) or a file (PNG bytes, base64 in the payload)."""

    key: str
    workspace_id: int
    kind: str
    channel_id: str
    payload: dict[str, Any]


@dataclass(frozen=True)
class Claimed:
    """A row this sender holds the lease on, and what the last attempt left behind."""

    id: int
    key: str
    workspace_id: int
    team_id: str
    kind: str
    channel_id: str
    payload: dict[str, Any]
    state: str
    attempts: int
    file_id: str | None


async def enqueue(session: AsyncSession, envelopes: Sequence[Envelope], now: dt.datetime) -> int:
    """Insert the rows whose key is new (in the caller's transaction); how many were new."""
    if not envelopes:
        return 0
    rows = [
        {
            "key": e.key,
            "workspace_id": e.workspace_id,
            "kind": e.kind,
            "channel_id": e.channel_id,
            "payload": json.dumps(e.payload, ensure_ascii=False),
            "state": PENDING,
            "attempts": 0,
            "not_before": now,
            "created_at": now,
        }
        for e in envelopes
    ]
    dialect = session.bind.dialect.name if session.bind is not None else "sqlite"
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    statement = insert(OutboxMessage).values(rows).on_conflict_do_nothing(index_elements=["key"])
    return affected_rows(await session.execute(statement))


class Outbox:
    """Leases and settles outbox rows; every time comes from the injected clock."""

    def __init__(self, database: Database, clock: Clock, *, lease: dt.timedelta) -> None:
        self._database = database
        self._clock = clock
        self._lease = lease
        # Many sends settle at once; on SQLite they would queue on its write lock in a busy loop
        # (and past busy_timeout, fail). Here they queue in the event loop instead.
        self._writes = asyncio.Semaphore(1 if database.is_sqlite else 8)

    async def add(self, envelopes: Sequence[Envelope]) -> int:
        async with self._database.write() as session:
            return await enqueue(session, envelopes, self._clock.now())

    async def claim(self, owner: str, limit: int) -> list[Claimed]:
        """Lease up to `limit` due rows: pending ones, and attempts whose sender's lease lapsed.

        One conditional UPDATE takes them all; a row another sender took in between is not ours.
        """
        now = self._clock.now()
        until = now + self._lease
        # Looked for outside a write transaction: the drain runs every few seconds, mostly finding
        # nothing, and should not take SQLite's write lock for that.
        async with self._database.read() as session:
            ids = (
                await session.scalars(
                    select(OutboxMessage.id)
                    .where(_claimable(now), OutboxMessage.not_before <= now)
                    .order_by(OutboxMessage.id)
                    .limit(limit)
                )
            ).all()
        if not ids:
            return []
        async with self._database.write() as session:
            await session.execute(
                update(OutboxMessage)
                .where(OutboxMessage.id.in_(ids), _claimable(now))
                .values(lease_owner=owner, lease_until=until)
            )
            rows = await session.execute(
                select(OutboxMessage, Workspace.team_id)
                .join(Workspace, Workspace.id == OutboxMessage.workspace_id)
                .where(OutboxMessage.id.in_(ids), OutboxMessage.lease_owner == owner)
                .order_by(OutboxMessage.id)
            )
            return [_claimed(row, team_id) for row, team_id in rows]

    async def anchor(self, key: str) -> tuple[str | None, str | None]:
        """The state and Slack ts of the row with this key (what an update or a reply is anchored
        to); (None, None) when there is no such row."""
        async with self._database.read() as session:
            found = (
                await session.execute(
                    select(OutboxMessage.state, OutboxMessage.message_ts).where(OutboxMessage.key == key)
                )
            ).one_or_none()
        return (None, None) if found is None else (found[0], found[1])

    async def attempting(self, row: Claimed, owner: str, *, file_id: str | None = None) -> bool:
        """Record that an attempt starts (committed before Slack is called); False if the lease was lost."""
        values: dict[str, Any] = {
            "state": SENDING,
            "attempt_started_at": self._clock.now(),
            "attempts": OutboxMessage.attempts + 1,
        }
        if file_id is not None:
            values["file_id"] = file_id
        return await self._settle(row, owner, values)

    async def sent(self, row: Claimed, owner: str, message_ts: str | None) -> bool:
        """Settled for good; the content goes (figures and PNGs need not be kept twice)."""
        values = {"state": SENT, "sent_at": self._clock.now(), "message_ts": message_ts, "payload": "{}"}
        return await self._settle(row, owner, values)

    async def retry_later(self, row: Claimed, owner: str, delay: dt.timedelta, error: str) -> bool:
        """Give the row back with its state as is: an unknown outcome stays `sending` (looked up first)."""
        return await self._settle(row, owner, {"not_before": self._clock.now() + delay, "error_code": error})

    async def give_up(self, row: Claimed, owner: str, state: str, error: str) -> bool:
        return await self._settle(row, owner, {"state": state, "error_code": error})

    async def _settle(self, row: Claimed, owner: str, values: dict[str, Any]) -> bool:
        release = values.get("state") in (SENT, BROKEN, FAILED) or "not_before" in values
        if release:
            values = {**values, "lease_owner": None, "lease_until": None}
        async with self._writes, self._database.write() as session:
            result = await session.execute(
                update(OutboxMessage)
                .where(OutboxMessage.id == row.id, OutboxMessage.lease_owner == owner)
                .values(**values)
            )
            return affected_rows(result) == 1


def _claimed(row: OutboxMessage, team_id: str) -> Claimed:
    return Claimed(
        id=row.id,
        key=row.key,
        workspace_id=row.workspace_id,
        team_id=team_id,
        kind=row.kind,
        channel_id=row.channel_id,
        payload=json.loads(row.payload),
        state=row.state,
        attempts=row.attempts,
        file_id=row.file_id,
    )


def _claimable(now: dt.datetime) -> Any:
    return and_(
        OutboxMessage.state.in_((PENDING, SENDING)),
        or_(OutboxMessage.lease_until.is_(None), OutboxMessage.lease_until < now),
    )

"""Alerts for a workspace's alert channel, recorded once per dedupe key."""

from __future__ import annotations

import datetime as dt
import json
import logging
from dataclasses import dataclass
from typing import Any

from bot.clock import Clock
from bot.errors import ConstraintViolation
from storage import alerts as queries
from storage.database import Database
from storage.models import Alert

log = logging.getLogger(__name__)

OPEN_STATES = ("open", "sent")


@dataclass(frozen=True)
class AlertView:
    """An alert as shown to people."""

    id: int
    kind: str
    dedupe_key: str
    severity: str
    title: str
    detail: dict[str, Any]
    state: str
    occurrences: int
    created_at: dt.datetime


class AlertService:
    """Raises and resolves alerts; delivering them to Slack is the alert sender's job."""

    def __init__(self, database: Database, *, clock: Clock) -> None:
        self._database = database
        self._clock = clock

    async def raise_alert(
        self,
        workspace_id: int,
        *,
        kind: str,
        dedupe_key: str,
        title: str,
        detail: dict[str, Any] | None = None,
        severity: str = "warning",
    ) -> bool:
        """Record the alert; True when it is new (or reopened), False when it was already open."""
        if await self._repeat(workspace_id, dedupe_key, detail):
            return False
        try:
            async with self._database.write() as session:
                queries.add_alert(
                    session,
                    Alert(
                        workspace_id=workspace_id,
                        kind=kind,
                        dedupe_key=dedupe_key[:255],
                        severity=severity,
                        title=title[:255],
                        detail=json.dumps(detail or {}, default=str),
                        state="open",
                        occurrences=1,
                        created_at=self._clock.now(),
                    ),
                )
        except ConstraintViolation:
            return await self._reopen(workspace_id, dedupe_key, title, detail)
        log.info("alert.raised", extra={"workspace_id": workspace_id, "kind": kind, "dedupe_key": dedupe_key})
        return True

    async def _repeat(self, workspace_id: int, dedupe_key: str, detail: dict[str, Any] | None) -> bool:
        return await self._move(
            workspace_id,
            dedupe_key,
            OPEN_STATES,
            count=True,
            updated_at=self._clock.now(),
            detail=json.dumps(detail or {}, default=str),
        )

    async def _reopen(
        self, workspace_id: int, dedupe_key: str, title: str, detail: dict[str, Any] | None
    ) -> bool:
        return await self._move(
            workspace_id,
            dedupe_key,
            ("resolved",),
            state="open",
            count=True,
            title=title[:255],
            detail=json.dumps(detail or {}, default=str),
            resolved_at=None,
            sent_at=None,
            updated_at=self._clock.now(),
        )

    async def resolve(self, workspace_id: int, dedupe_key: str) -> bool:
        return await self._move(
            workspace_id,
            dedupe_key,
            OPEN_STATES,
            state="resolved",
            resolved_at=self._clock.now(),
            updated_at=self._clock.now(),
        )

    async def _move(
        self,
        workspace_id: int,
        dedupe_key: str,
        states: tuple[str, ...],
        *,
        count: bool = False,
        **values: Any,
    ) -> bool:
        """Update the workspace's alert with this key if it is in one of `states`; True if it was."""
        async with self._database.write() as session:
            return await queries.move_alert(session, workspace_id, dedupe_key, states, count=count, **values)

    async def open_alerts(self, workspace_id: int) -> list[AlertView]:
        async with self._database.read() as session:
            rows = await queries.alerts_in(session, workspace_id, OPEN_STATES)
            return [
                AlertView(
                    row.id,
                    row.kind,
                    row.dedupe_key,
                    row.severity,
                    row.title,
                    json.loads(row.detail or "{}"),
                    row.state,
                    row.occurrences,
                    row.created_at,
                )
                for row in rows
            ]

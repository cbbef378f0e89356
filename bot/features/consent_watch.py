"""Ponto's bank consent, ahead of time: a DM to whoever connected it 14 and 7 days before it ends,
and a channel alert at 7 days; each once per consent (its end date is in the outbox key)."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bot.clock import Clock
from bot.features.incidents.lifecycle import IncidentService
from bot.features.incidents.policy import CONSENT
from bot.providers.connections import ConnectionService, ConnectionView
from storage.outbox import Envelope, Outbox

log = logging.getLogger(__name__)

STAGES = (7, 14)  # days before the end, most urgent first


@dataclass(frozen=True)
class ConsentNotice:
    """A consent warning for the person who connected Ponto."""

    days: int
    connection: ConnectionView
    expires_at: dt.datetime
    now: dt.datetime


ComposeDm = Callable[[ConsentNotice], dict[str, Any]]


def stage(left: dt.timedelta) -> int | None:
    """The warning due with this much time left: 7, 14, or none yet."""
    return next((days for days in STAGES if left <= dt.timedelta(days=days)), None)


class ConsentWatch:
    """A worker tick: looks at every Ponto consent's end and warns ahead of it."""

    def __init__(
        self,
        connections: ConnectionService,
        incidents: IncidentService,
        outbox: Outbox,
        compose: ComposeDm,
        clock: Clock,
    ) -> None:
        self._connections = connections
        self._incidents = incidents
        self._outbox = outbox
        self._compose = compose
        self._clock = clock

    async def tick(self) -> int:
        """Enqueue the warnings due now; how many were new."""
        now, new = self._clock.now(), 0
        for connection in await self._connections.active():  # whichever provider has a consent end
            expires = connection.consent_expires_at
            if expires is None or expires <= now:
                continue  # an ended consent fails the next sync: that is a reauth alert
            due = stage(expires - now)
            if due != 7:
                # Renewed (reconnected) since a 7-day alert: that alert has recovered.
                await self._incidents.recovered(
                    connection.workspace_id, connection.provider.value, (CONSENT,)
                )
            if due is not None:
                new += await self._warn(connection, expires, due, now)
        return new

    async def _warn(
        self, connection: ConnectionView, expires: dt.datetime, days: int, now: dt.datetime
    ) -> int:
        new = 0
        if connection.connected_by_user_id:
            key = f"consent:{connection.id}:{expires.date().isoformat()}:{days}"
            payload = self._compose(ConsentNotice(days, connection, expires, now))
            envelope = Envelope(
                key, connection.workspace_id, "consent:dm", connection.connected_by_user_id, payload
            )
            new = await self._outbox.add([envelope])
            if new:
                log.info("consent.warned", extra={"connection": connection.id, "days": days})
        if days == 7:
            await self._incidents.failed(
                connection.workspace_id, connection.provider.value, CONSENT, None, repeats=False
            )
        return new

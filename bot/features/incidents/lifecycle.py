"""An incident's life on the delivery path: opened once, updated, reminded daily, recovered in its thread.

Every change to an incident and the outbox rows it causes are written in one transaction, and each
row's key names the incident and the step (`alert:<id>:opened`, `…:update:<n>`, `…:reminder:<n>`,
`…:recovered`, and `…:dm` for the DM a reconnect alert also sends to whoever connected the
provider), so two workers or a restart post each step once.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any

from bot.clock import Clock
from bot.domain import ConnectionState, Provider
from bot.errors import ConstraintViolation
from bot.features.incidents.policy import CONSENT, REAUTH, AlertPolicy, kind_of
from bot.features.incidents.records import IncidentFacts, alert_channel
from bot.features.sync.runner import RunOutcome, SyncResult
from bot.providers.connections import ConnectionService, ConnectionView
from storage import incidents as queries
from storage.database import Database, Session
from storage.models import Incident
from storage.outbox import Envelope, enqueue

log = logging.getLogger(__name__)

REMIND_EVERY = dt.timedelta(days=1)
SELF_HEALING_KINDS = ("outage", "reauth", "secret")


@dataclass(frozen=True)
class Notice:
    """What one alert message says: `phase` is opened, updated, reminder, recovered or resolved."""

    phase: str
    incident: IncidentFacts
    connection: ConnectionView | None
    now: dt.datetime


Compose = Callable[[Notice], dict[str, Any]]


class IncidentService:
    """Turns sync outcomes into incidents and their messages; rendering is the handler's `compose`."""

    def __init__(
        self,
        database: Database,
        connections: ConnectionService,
        compose: Compose,
        clock: Clock,
        policy: AlertPolicy | None = None,
    ) -> None:
        self._database = database
        self._connections = connections
        self._compose = compose
        self._clock = clock
        self.policy = policy or AlertPolicy()

    async def sync_finished(self, result: SyncResult) -> None:
        """A SyncService listener: a success recovers the provider, a failure feeds its incident."""
        provider = result.provider.value
        if result.outcome in (RunOutcome.SUCCESS, RunOutcome.PARTIAL):
            await self.recovered(result.workspace_id, provider, SELF_HEALING_KINDS)
        elif result.outcome == RunOutcome.FAILED and result.error_code != "storage_unavailable":
            connection = await self._connections.find(result.workspace_id, result.provider)
            reauth = connection is not None and connection.state == ConnectionState.NEEDS_REAUTH
            await self.failed(
                result.workspace_id, provider, kind_of(result.error_code, reauth), result.error_code
            )

    async def failed(
        self, workspace_id: int, provider: str, kind: str, code: str | None, *, repeats: bool = True
    ) -> None:
        """One more failure; `repeats=False` for a state (a consent expiring) that is not an event."""
        connection = await self._connections.find(workspace_id, Provider(provider))
        for attempt in range(2):
            try:
                async with self._database.write() as session:
                    await self._failed(session, workspace_id, provider, kind, code, repeats, connection)
                return
            except ConstraintViolation:  # another worker opened the same incident first: count on that one
                if attempt:
                    raise

    async def _failed(
        self,
        session: Session,
        workspace_id: int,
        provider: str,
        kind: str,
        code: str | None,
        repeats: bool,
        connection: ConnectionView | None,
    ) -> None:
        now = self._clock.now()
        row = await queries.unresolved(session, workspace_id, f"{provider}:{kind}")
        if row is not None and not repeats:
            return
        if row is None:
            row = _new(workspace_id, provider, kind, code, now)
            queries.add_incident(session, row)
        else:
            row.failures, row.last_failed_at, row.error_code = row.failures + 1, now, code
        phase = None
        if row.opened_at is not None:
            row.updates, phase = row.updates + 1, "updated"
        elif self.policy.due(kind, row.failures, row.first_failed_at, now):
            row.opened_at, phase = now, "opened"
            row.channel_id = (await alert_channel(session, workspace_id)).channel_id
        await session.flush()
        if phase is not None:
            facts = IncidentFacts.of(row)
            envelopes = self._envelopes(phase, facts, connection, now)
            if phase == "opened":
                envelopes += self._direct(facts, connection, now)
            await enqueue(session, envelopes, now)
            log.info("incident.%s", phase, extra={"incident": facts.id, "provider": provider, "kind": kind})

    async def recovered(self, workspace_id: int, provider: str, kinds: Collection[str]) -> int:
        """Resolve the provider's incidents of these kinds; a posted one gets its recovery. How many."""
        async with self._database.read() as session:
            # Most successful syncs have nothing to recover: a read, not a write, tells.
            if not await queries.any_unresolved(session, workspace_id, provider, kinds):
                return 0
        connection = await self._connections.find(workspace_id, Provider(provider))
        now = self._clock.now()
        async with self._database.write() as session:
            rows = await queries.lock_unresolved(session, workspace_id, provider, kinds)
            for row in rows:
                row.resolved_at = now
            await session.flush()
            for row in rows:
                facts = IncidentFacts.of(row)
                envelopes = self._envelopes("recovered", facts, connection, now)
                envelopes += self._envelopes("resolved", facts, connection, now)
                await enqueue(session, envelopes, now)
        return len(rows)

    async def rechecks(self) -> list[tuple[int, str]]:
        """(workspace, provider) of lone failures to sync again now: does it still fail?"""
        now = self._clock.now()
        async with self._database.read() as session:
            rows = await queries.unresolved_incidents(session, posted=False)
            return sorted(
                {
                    (row.workspace_id, row.provider)
                    for row in rows
                    if self.policy.recheck_due(row.kind, row.first_failed_at, row.last_failed_at, now)
                }
            )

    async def remind(self) -> int:
        """A reminder in the thread of each incident still open a day (then another day) after it opened."""
        now = self._clock.now()
        async with self._database.read() as session:
            rows = await queries.unresolved_incidents(session, posted=True)
            due = [IncidentFacts.of(r) for r in rows if _reminder_due(IncidentFacts.of(r), now)]
        sent = 0
        for facts in due:
            sent += await self._remind(facts, now)
        return sent

    async def _remind(self, facts: IncidentFacts, now: dt.datetime) -> int:
        connection = await self._connections.find(facts.workspace_id, Provider(facts.provider))
        if connection is None or connection.state == ConnectionState.DISCONNECTED:
            return 0  # disconnected on purpose: nobody needs a daily nudge about it
        async with self._database.write() as session:
            row = await queries.count_reminder(session, facts.id, facts.reminders)
            if row is None:
                return 0  # another worker reminded first
            facts = IncidentFacts.of(row)
            await enqueue(session, self._envelopes("reminder", facts, connection, now), now)
        return 1

    def _direct(
        self, facts: IncidentFacts, connection: ConnectionView | None, now: dt.datetime
    ) -> list[Envelope]:
        """A connection that needs reconnecting is told at once to whoever connected it, by DM
        (whether or not alerts go to a channel): they are the one who can give consent again."""
        if facts.kind != REAUTH or connection is None or not connection.connected_by_user_id:
            return []
        payload = self._compose(Notice("opened", facts, connection, now))
        user = connection.connected_by_user_id
        return [Envelope(f"alert:{facts.id}:dm", facts.workspace_id, "alert:dm", user, payload)]

    def _envelopes(
        self, phase: str, facts: IncidentFacts, connection: ConnectionView | None, now: dt.datetime
    ) -> list[Envelope]:
        if facts.channel_id is None or (phase != "opened" and facts.opened_at is None):
            return []  # alerts are off (or there is no channel): the incident is only recorded
        payload = self._compose(Notice(phase, facts, connection, now))
        key, kind, anchor = _step(phase, facts)
        return [Envelope(key, facts.workspace_id, kind, facts.channel_id, payload | anchor)]


def _step(phase: str, facts: IncidentFacts) -> tuple[str, str, dict[str, Any]]:
    """The outbox key, kind and anchor of one step of an incident."""
    opened = facts.opened_key
    if phase == "opened":
        return opened, "alert", {}
    if phase == "updated":
        return f"alert:{facts.id}:update:{facts.updates}", "alert:update", {"update_of": opened}
    if phase == "reminder":
        key = f"alert:{facts.id}:reminder:{facts.reminders}"
        return key, "alert", {"thread_of": opened, "broadcast": True}
    if phase == "recovered":
        return f"alert:{facts.id}:recovered", "alert", {"thread_of": opened}
    return f"alert:{facts.id}:recovered:update", "alert:update", {"update_of": opened}


def _reminder_due(facts: IncidentFacts, now: dt.datetime) -> bool:
    if facts.opened_at is None or facts.kind == CONSENT:
        return False  # a consent warning has its own 14- and 7-day messages
    return now - facts.opened_at >= REMIND_EVERY * (facts.reminders + 1)


def _new(workspace_id: int, provider: str, kind: str, code: str | None, now: dt.datetime) -> Incident:
    return Incident(
        workspace_id=workspace_id,
        provider=provider,
        subject=f"{provider}:{kind}",
        kind=kind,
        first_failed_at=now,
        last_failed_at=now,
        failures=1,
        error_code=code,
        updates=0,
        reminders=0,
    )

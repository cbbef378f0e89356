"""Remembers which Slack event ids were handled, so a retried delivery has no second effect.

An event is remembered only once its listener succeeded: a listener that failed answers 5xx,
Slack delivers the event again, and that retry must run the listener, not be waved through.
"""

from __future__ import annotations

import datetime as dt

from bot.clock import Clock
from storage import event_receipts as queries
from storage.database import Database

RETENTION = dt.timedelta(days=2)  # Slack retries within minutes; two days is generous


class EventReceipts:
    """An inbox keyed by Slack's event_id."""

    def __init__(self, database: Database, *, clock: Clock) -> None:
        self._database = database
        self._clock = clock

    async def handled(self, event_id: str) -> bool:
        """True when this event's listener already succeeded."""
        async with self._database.read() as session:
            return await queries.has_receipt(session, event_id)

    async def remember(self, event_id: str) -> None:
        """Record that the event was handled (a concurrent duplicate recording it first is fine)."""
        await queries.add_receipt(self._database, event_id, self._clock.now())

    async def prune(self) -> None:
        """Forget receipts older than Slack's retry window."""
        cutoff = self._clock.now() - RETENTION
        async with self._database.write() as session:
            await queries.delete_receipts_before(session, cutoff)

"""Remembers which Slack event ids were handled, so a retried delivery has no second effect."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError

from storage.database import Database
from storage.models import SlackEventReceipt, utcnow

RETENTION = dt.timedelta(days=2)  # Slack retries within minutes; two days is generous


class EventReceipts:
    """An inbox keyed by Slack's event_id."""

    def __init__(self, database: Database) -> None:
        self._database = database

    async def first_delivery(self, event_id: str) -> bool:
        """Record the event; False when it was seen before."""
        try:
            async with self._database.write() as session:
                session.add(SlackEventReceipt(event_id=event_id[:64], received_at=utcnow()))
        except IntegrityError:
            return False
        return True

    async def prune(self, now: dt.datetime | None = None) -> None:
        cutoff = (now or utcnow()) - RETENTION
        async with self._database.write() as session:
            await session.execute(delete(SlackEventReceipt).where(SlackEventReceipt.received_at < cutoff))

"""Slack event receipts: which event ids were handled, keyed by Slack's event_id (64 characters)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession

from bot.errors import ConstraintViolation
from storage.database import Database
from storage.models import SlackEventReceipt


async def has_receipt(session: AsyncSession, event_id: str) -> bool:
    return await session.get(SlackEventReceipt, event_id[:64]) is not None


async def add_receipt(database: Database, event_id: str, now: dt.datetime) -> None:
    """Record the receipt in its own transaction; a concurrent duplicate recording it first is fine."""
    try:
        async with database.write() as session:
            session.add(SlackEventReceipt(event_id=event_id[:64], received_at=now))
    except ConstraintViolation:
        pass


async def delete_receipts_before(session: AsyncSession, cutoff: dt.datetime) -> None:
    await session.execute(delete(SlackEventReceipt).where(SlackEventReceipt.received_at < cutoff))

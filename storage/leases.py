"""Leader election through a lease row: one holder at a time, taken over once it lapses."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import delete, or_, update

from bot.errors import ConstraintViolation
from storage.database import Database, affected_rows
from storage.models import JobLease


async def acquire_or_renew(database: Database, name: str, owner: str, ttl: dt.timedelta) -> bool:
    """True when `owner` holds the lease `name` for the next `ttl` (renewed if already held)."""
    now = database.clock.now()
    async with database.write() as session:
        result = await session.execute(
            update(JobLease)
            .where(JobLease.name == name, or_(JobLease.owner == owner, JobLease.expires_at < now))
            .values(owner=owner, acquired_at=now, expires_at=now + ttl)
        )
        if affected_rows(result) == 1:
            return True
    try:
        async with database.write() as session:
            session.add(JobLease(name=name, owner=owner, acquired_at=now, expires_at=now + ttl))
    except ConstraintViolation:
        return False  # someone else holds it
    return True


async def release(database: Database, name: str, owner: str) -> None:
    """Give the lease up at once (on shutdown), so a standby takes over without waiting."""
    async with database.write() as session:
        await session.execute(delete(JobLease).where(JobLease.name == name, JobLease.owner == owner))

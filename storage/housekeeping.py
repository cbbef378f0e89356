"""Spent connect links: expired, used or revoked before a cutoff."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import delete, or_
from sqlalchemy.ext.asyncio import AsyncSession

from storage.database import affected_rows
from storage.models import ConnectLink


async def delete_spent_links(session: AsyncSession, cutoff: dt.datetime) -> int:
    """Delete connect links expired, used or revoked before `cutoff` (their stashed secret goes too)."""
    result = await session.execute(
        delete(ConnectLink).where(
            or_(
                ConnectLink.expires_at < cutoff,
                ConnectLink.used_at < cutoff,
                ConnectLink.revoked_at < cutoff,
            )
        )
    )
    return affected_rows(result)

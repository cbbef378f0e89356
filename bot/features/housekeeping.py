"""Deletes what has expired: OAuth states and connect links (with any secret stashed on them)."""

from __future__ import annotations

import datetime as dt
import logging

from sqlalchemy import delete, or_

from bot.clock import Clock
from storage.database import Database, affected_rows
from storage.models import ConnectLink, OAuthState

log = logging.getLogger(__name__)

# Kept a day after they expire, so a late click still hears "expired" rather than "unknown".
GRACE = dt.timedelta(days=1)


class Housekeeping:
    """Keeps one-time credentials from piling up (anyone can make /slack/install write a state)."""

    def __init__(self, database: Database, *, clock: Clock) -> None:
        self._database = database
        self._clock = clock

    async def prune(self) -> int:
        cutoff = self._clock.now() - GRACE
        async with self._database.write() as session:
            states = await session.execute(delete(OAuthState).where(OAuthState.expires_at < cutoff))
            links = await session.execute(
                delete(ConnectLink).where(
                    or_(
                        ConnectLink.expires_at < cutoff,
                        ConnectLink.used_at < cutoff,
                        ConnectLink.revoked_at < cutoff,
                    )
                )
            )
        removed = affected_rows(states) + affected_rows(links)
        if removed:
            log.info("housekeeping.pruned", extra={"rows": removed})
        return removed

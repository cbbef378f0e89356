"""Deletes what has expired: OAuth states and connect links (with any secret stashed on them)."""

from __future__ import annotations

import datetime as dt
import logging

from bot.clock import Clock
from storage import housekeeping as queries
from storage import oauth_states
from storage.database import Database

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
            removed = await oauth_states.delete_expired_states(session, cutoff)
            removed += await queries.delete_spent_links(session, cutoff)
        if removed:
            log.info("housekeeping.pruned", extra={"rows": removed})
        return removed

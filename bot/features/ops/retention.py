"""Forgetting on schedule: bank transactions older than CASHBOT_RETENTION_MONTHS are deleted."""

from __future__ import annotations

import calendar
import datetime as dt
from zoneinfo import ZoneInfo

from bot.clock import Clock
from bot.features.ops.report import Outcome
from storage.database import Database
from storage.ops import purge_transactions_before


def months_before(day: dt.date, months: int) -> dt.date:
    """The same day `months` earlier (the month's last day where it is shorter)."""
    year, month = divmod(day.year * 12 + day.month - 1 - months, 12)
    return dt.date(year, month + 1, min(day.day, calendar.monthrange(year, month + 1)[1]))


class RetentionPurge:
    """Deletes transactions executed before the cutoff (the balances and open items stay)."""

    def __init__(self, database: Database, months: int, timezone: str, *, clock: Clock) -> None:
        self._database = database
        self._months = months
        self._zone = ZoneInfo(timezone)
        self._clock = clock

    async def run(self) -> Outcome:
        cutoff = months_before(self._clock.now().astimezone(self._zone).date(), self._months)
        removed = await purge_transactions_before(self._database, cutoff)
        summary = f"Retention: {removed} transactions executed before {cutoff.isoformat()} deleted"
        return Outcome("retention", True, summary)

"""The one clock every service, store, job and template is given; the only module reading the wall clock.

Durations are measured with ``time.monotonic``/``perf_counter`` where they are needed; what a user
could see (a timestamp, an expiry, "synced 3 min ago", which day it is) comes from a ``Clock``.
"""

from __future__ import annotations

import datetime as dt
import threading
from typing import Protocol
from zoneinfo import ZoneInfo


class Clock(Protocol):
    """Tells the time: an aware UTC datetime."""

    def now(self) -> dt.datetime: ...


class SystemClock:
    """The wall clock of the machine, in UTC."""

    def now(self) -> dt.datetime:
        return dt.datetime.now(dt.UTC)


class ManualClock:
    """A clock that moves only when told to: for tests and the demo's scripted week."""

    def __init__(self, start: dt.datetime) -> None:
        self._lock = threading.Lock()
        self._now = _aware_utc(start)

    def now(self) -> dt.datetime:
        with self._lock:
            return self._now

    def set(self, moment: dt.datetime) -> None:
        with self._lock:
            self._now = _aware_utc(moment)

    def advance(self, delta: dt.timedelta) -> dt.datetime:
        with self._lock:
            self._now += delta
            return self._now


def local_today(clock: Clock, timezone: str | ZoneInfo) -> dt.date:
    """Today's date where the reader is (a workspace's or a provider's timezone)."""
    zone = timezone if isinstance(timezone, ZoneInfo) else ZoneInfo(timezone)
    return clock.now().astimezone(zone).date()


def _aware_utc(moment: dt.datetime) -> dt.datetime:
    if moment.tzinfo is None:
        raise ValueError("a clock keeps aware datetimes only")
    return moment.astimezone(dt.UTC)

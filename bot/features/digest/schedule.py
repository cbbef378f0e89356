"""When a workspace's digest is due: a weekday and a local time in its timezone, across DST changes."""

from __future__ import annotations

import datetime as dt
import re
import zoneinfo
from dataclasses import dataclass

from bot.errors import UserError

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
DAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_TIME = re.compile(r"^([01]?[0-9]|2[0-3]):([0-5][0-9])$")


@dataclass(frozen=True)
class Schedule:
    """Weekday (0 = Monday), local "HH:MM" and an IANA timezone."""

    weekday: int
    time: str
    timezone: str

    @property
    def label(self) -> str:
        return f"{DAY_NAMES[self.weekday]} {self.time} ({self.timezone})"


@dataclass(frozen=True)
class Occurrence:
    """One scheduled digest: its period (ISO week of the local day), the local day, when it fell due."""

    period_key: str
    local_date: dt.date
    due_at: dt.datetime


def parse_day_time(day: str, time: str) -> tuple[int, str]:
    """ "tue", "07:30" → (1, "07:30"); anything else raises UserError and nothing changes."""
    weekday = DAYS.index(day[:3].casefold()) if day[:3].casefold() in DAYS else -1
    if weekday < 0 or (len(day) > 3 and not DAY_NAMES[weekday].casefold().startswith(day.casefold())):
        raise UserError(f"“{day[:20]}” is not a day: use mon, tue, wed, thu, fri, sat or sun.")
    match = _TIME.match(time)
    if match is None:
        raise UserError(f"“{time[:20]}” is not a time: use 24-hour HH:MM, for example 07:30.")
    return weekday, f"{int(match.group(1)):02d}:{match.group(2)}"


def parse_timezone(name: str) -> str:
    """An IANA timezone name such as Europe/Amsterdam; anything else raises UserError."""
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise UserError(f"“{name[:40]}” is not a timezone: use a name like Europe/Brussels.") from None
    if "/" not in name and name != "UTC":
        raise UserError(f"“{name[:40]}” is not a timezone: use a name like Europe/Brussels.")
    return name


def at_local(day: dt.date, time: str, zone: zoneinfo.ZoneInfo) -> dt.datetime:
    """The UTC moment of a local wall time; one skipped by a DST change falls an hour later."""
    hour, minute = (int(part) for part in time.split(":"))
    # A wall time in the spring-forward gap does not exist; zoneinfo reads it (fold=0) with the
    # offset before the change: the same instant as an hour later on the new offset. A time that
    # occurs twice in autumn is the first of the two.
    return dt.datetime(day.year, day.month, day.day, hour, minute, tzinfo=zone).astimezone(dt.UTC)


def latest(schedule: Schedule, now: dt.datetime) -> Occurrence:
    """The most recent scheduled moment at or before `now`."""
    zone = zoneinfo.ZoneInfo(schedule.timezone)
    today = now.astimezone(zone).date()
    day = today - dt.timedelta(days=(today.weekday() - schedule.weekday) % 7)
    due_at = at_local(day, schedule.time, zone)
    if due_at > now:
        day -= dt.timedelta(days=7)
        due_at = at_local(day, schedule.time, zone)
    year, week, _ = day.isocalendar()
    return Occurrence(f"{year}-W{week:02d}", day, due_at)


def local_date(moment: dt.datetime, timezone: str) -> dt.date:
    return moment.astimezone(zoneinfo.ZoneInfo(timezone)).date()

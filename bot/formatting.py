"""Money and dates in the reader's locale (nl-BE, fr-BE, en …) with Babel: pure helpers for the renderer."""

from __future__ import annotations

import datetime as dt
import functools
import zoneinfo
from decimal import Decimal

from babel import Locale, UnknownLocaleError
from babel.dates import format_date
from babel.numbers import format_currency

DEFAULT_LOCALE = "en"
# Amounts and dates follow the reader's Slack locale for these languages; the words stay English.
SUPPORTED_LANGUAGES = frozenset({"nl", "fr", "en", "de"})


@functools.lru_cache(maxsize=64)
def babel_locale(slack_locale: str | None) -> Locale:
    """The Babel locale for a Slack locale such as "nl-BE"; English for anything unknown or malformed."""
    if slack_locale and len(slack_locale) <= 16:
        try:
            locale = Locale.parse(slack_locale.replace("-", "_"))
        except (UnknownLocaleError, ValueError, TypeError):
            locale = None
        if locale is not None and locale.language in SUPPORTED_LANGUAGES:
            return locale
    return Locale.parse(DEFAULT_LOCALE)


def money(amount: Decimal, currency: str, locale: str | None) -> str:
    """ "€ 4.210,00" (nl-BE), "4 210,00 €" (fr-BE), "€4,210.00" (en)."""
    return str(format_currency(amount, currency, locale=babel_locale(locale)))


def signed_money(amount: Decimal, currency: str, locale: str | None) -> str:
    """Like `money`, with an explicit + for gains, so a change reads as a change."""
    text = money(amount, currency, locale)
    return "+" + text if amount > 0 else text


def day(value: dt.date, locale: str | None) -> str:
    """A date as the reader writes it: "12 mrt 2025", "12 mars 2025", "Mar 12, 2025"."""
    return str(format_date(value, "medium", locale=babel_locale(locale)))


def local_moment(moment: dt.datetime, timezone: str | None) -> dt.datetime:
    """An aware time moved to the reader's timezone (UTC when it is unknown)."""
    try:
        zone: dt.tzinfo = zoneinfo.ZoneInfo(timezone) if timezone else dt.UTC
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        zone = dt.UTC
    return moment.astimezone(zone)


def ago(moment: dt.datetime | None, now: dt.datetime) -> str:
    """ "just now", "5 min ago", "3 h ago", "2 days ago"; "never" for None."""
    if moment is None:
        return "never"
    seconds = max(0.0, (now - moment).total_seconds())
    if seconds < 60:
        return "just now"
    for unit, size in (("day", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            count = int(seconds // size)
            plural = "s" if unit == "day" and count != 1 else ""
            return f"{count} {unit}{plural} ago"
    return "just now"  # pragma: no cover - the loop always returns

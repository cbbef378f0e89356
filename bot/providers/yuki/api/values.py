"""Tolerant readers for the scalar values in Yuki's XML: amounts, dates, currency codes."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal, InvalidOperation

MAX_DECIMALS = 4  # what storage keeps exactly; anything finer would be rounded, so it is refused
MAX_ABS_AMOUNT = Decimal(10) ** 12

_PLAIN = re.compile(r"[+-]?\d+(?:\.\d+)?")
_COMMA_DECIMAL = re.compile(r"[+-]?\d+,\d+")
_DOT_GROUPS = re.compile(r"[+-]?\d{1,3}(?:\.\d{3})+(?:,\d+)?")
_COMMA_GROUPS = re.compile(r"[+-]?\d{1,3}(?:,\d{3})+(?:\.\d+)?")
_DATE = re.compile(r"(\d{4})-(\d{2})-(\d{2})(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?")
_CURRENCY = re.compile(r"[A-Z]{3}")
_QUANTUM = Decimal(1).scaleb(-MAX_DECIMALS)


class ValueProblem(ValueError):
    """A value in an answer that cannot be read; the message names it for the unparsed record."""


def parse_amount(raw: str | None, field: str) -> Decimal:
    """An exact Decimal from `1210.50`, `1210,50`, `1.210,50` or `1,210.50`; else ValueProblem."""
    text = (raw or "").strip().replace("\u00a0", "").replace(" ", "")
    if not text:
        raise ValueProblem(f"{field} is missing or empty")
    normalised = _normalise_separators(text)
    if normalised is None:
        raise ValueProblem(f"{field} {_show(raw)} is not an amount")
    try:
        value = Decimal(normalised)
    except InvalidOperation:  # pragma: no cover - the patterns only let digits through
        raise ValueProblem(f"{field} {_show(raw)} is not an amount") from None
    if value != value.quantize(_QUANTUM):
        raise ValueProblem(f"{field} {_show(raw)} has more than {MAX_DECIMALS} decimals")
    if abs(value) >= MAX_ABS_AMOUNT:
        raise ValueProblem(f"{field} {_show(raw)} is out of range")
    return value


def parse_optional_amount(raw: str | None, field: str) -> Decimal | None:
    """Like parse_amount, but an absent or empty value is None."""
    if raw is None or not raw.strip():
        return None
    return parse_amount(raw, field)


def parse_date(raw: str | None, field: str) -> dt.date | None:
    """A date from `2025-02-09` or a .NET `2025-02-09T00:00:00`; empty (or 0001-01-01) is None."""
    text = (raw or "").strip()
    if not text:
        return None
    match = _DATE.fullmatch(text)
    if match is None:
        raise ValueProblem(f"{field} {_show(raw)} is not a date")
    year, month, day = (int(part) for part in match.groups())
    if year == 1:
        return None  # .NET's DateTime.MinValue: how an empty date serialises
    try:
        return dt.date(year, month, day)
    except ValueError:
        raise ValueProblem(f"{field} {_show(raw)} is not a date") from None


def parse_currency(raw: str | None, default: str) -> str:
    """An ISO 4217 code; absent or empty means the administration's own currency."""
    text = (raw or "").strip().upper()
    if not text:
        return default
    if _CURRENCY.fullmatch(text) is None:
        raise ValueProblem(f"currency {_show(raw)} is not an ISO 4217 code")
    return text


def _normalise_separators(text: str) -> str | None:
    if _PLAIN.fullmatch(text):
        return text
    if _COMMA_DECIMAL.fullmatch(text):
        return text.replace(",", ".")
    if _DOT_GROUPS.fullmatch(text):
        return text.replace(".", "").replace(",", ".")
    if _COMMA_GROUPS.fullmatch(text):
        return text.replace(",", "")
    return None


def _show(raw: str | None) -> str:
    text = raw or ""
    return repr(text if len(text) <= 40 else text[:40] + "…")

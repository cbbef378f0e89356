"""What the digest says, computed with the same services and queries as /cash and /overdue.

The cash figures are `CashService.compute` and the overdue figures `ReceivablesService.summarise`
for the same day, so each equals what /cash and /overdue show at that moment.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from decimal import Decimal

from bot.clock import Clock
from bot.features.cash.position import CashPosition, CashService
from bot.features.digest.schedule import Occurrence
from bot.features.receivables.overdue import (
    OverdueQuery,
    OverdueSummary,
    ReceivablesService,
    due_ranges,
    net_buckets,
)
from storage import digest_queries as queries
from storage import reports
from storage.database import Database, Session

WEEK = dt.timedelta(days=7)
CONSENT_WARNING = dt.timedelta(days=14)
STALE_AFTER = dt.timedelta(days=1)
MOVEMENTS = 5
WORSE_CUSTOMERS = 5
KEPT_CUSTOMERS = 200
HISTORY_DAYS = 56
FORECAST_DAYS = 28


@dataclass(frozen=True)
class Shift:
    """One ageing bucket now and in last week's digest."""

    label: str
    now: Decimal
    before: Decimal | None


@dataclass(frozen=True)
class Worse:
    """A customer who owes more overdue than a week ago."""

    name: str
    currency: str
    now: Decimal
    before: Decimal


@dataclass(frozen=True)
class Warning:
    """Something the reader should know about the figures: kind, which provider, since or until when."""

    kind: str  # "failing" | "needs_reconnect" | "stale" | "consent_expiring"
    provider: str
    moment: dt.datetime | None


@dataclass(frozen=True)
class Series:
    """The chart's data in one currency: daily cash behind, the expected position ahead."""

    currency: str
    history: tuple[tuple[dt.date, Decimal], ...]
    forecast: tuple[tuple[dt.date, Decimal], ...]


@dataclass(frozen=True)
class Digest:
    """One workspace's digest for one period, before rendering."""

    period_key: str
    as_of: dt.date
    computed_at: dt.datetime
    late: bool
    cash: CashPosition
    flows: tuple[queries.Flow, ...]
    movements: tuple[queries.Movement, ...]
    overdue: OverdueSummary
    shifts: dict[str, tuple[Shift, ...]]
    worse: tuple[Worse, ...]
    due: tuple[queries.DueRow, ...]
    warnings: tuple[Warning, ...]
    data_as_of: dt.datetime | None
    series: Series | None
    figures: str  # what next week's digest compares with (JSON)


class DigestComposer:
    """Builds a Digest from synced data only; never calls a provider."""

    def __init__(
        self, database: Database, cash: CashService, receivables: ReceivablesService, clock: Clock
    ) -> None:
        self._database = database
        self._cash = cash
        self._receivables = receivables
        self._clock = clock

    async def compose(self, workspace_id: int, occurrence: Occurrence, *, late: bool = False) -> Digest:
        as_of = occurrence.local_date
        now = self._clock.now()
        cash = await self._cash.compute(workspace_id, as_of)
        overdue = await self._receivables.summarise(workspace_id, as_of, OverdueQuery())
        week_start = as_of - WEEK
        async with self._database.read() as session:
            flows = await queries.flows(session, workspace_id, week_start, as_of)
            movements = await queries.largest_movements(session, workspace_id, week_start, as_of, MOVEMENTS)
            due = await queries.falling_due(session, workspace_id, as_of, as_of + dt.timedelta(days=6))
            customers = await reports.overdue_by_customer(session, workspace_id, due_ranges(as_of, 1))
            consents = await queries.consent_expiries(session, workspace_id)
            previous = await queries.previous_figures(session, workspace_id, occurrence.period_key)
            series = await _series(session, workspace_id, cash, as_of)
        owed = _owed_per_customer(customers)
        before = json.loads(previous) if previous else None
        return Digest(
            period_key=occurrence.period_key,
            as_of=as_of,
            computed_at=now,
            late=late,
            cash=cash,
            flows=tuple(flows),
            movements=tuple(movements),
            overdue=overdue,
            shifts=_shifts(overdue, before),
            worse=_worse(owed, before),
            due=tuple(due),
            warnings=_warnings(cash, consents, now),
            data_as_of=_data_as_of(cash),
            series=series,
            figures=_figures(overdue, owed),
        )


def _owed_per_customer(customers: list[reports.CustomerRow]) -> dict[str, tuple[str, str, Decimal]]:
    owed: dict[str, tuple[str, str, Decimal]] = {}
    for customer in customers:
        after, _ = net_buckets(customer.bucket_amounts, customer.credits)
        owed[f"{customer.currency}|{customer.customer_key}"] = (
            customer.name,
            customer.currency,
            sum(after, Decimal(0)),
        )
    return owed


def _figures(overdue: OverdueSummary, owed: dict[str, tuple[str, str, Decimal]]) -> str:
    largest = sorted(owed.items(), key=lambda item: -item[1][2])[:KEPT_CUSTOMERS]
    return json.dumps(
        {
            "buckets": {c.currency: {b.label: str(b.amount) for b in c.buckets} for c in overdue.currencies},
            "customers": {key: str(amount) for key, (_, _, amount) in largest},
        }
    )


def _shifts(overdue: OverdueSummary, before: dict[str, object] | None) -> dict[str, tuple[Shift, ...]]:
    previous = before.get("buckets", {}) if before else {}
    assert isinstance(previous, dict)
    shifts = {}
    for currency in overdue.currencies:
        old = previous.get(currency.currency) if before else None
        shifts[currency.currency] = tuple(
            Shift(
                bucket.label,
                bucket.amount,
                None if old is None else Decimal(str(old.get(bucket.label, "0"))),
            )
            for bucket in currency.buckets
        )
    return shifts


def _worse(owed: dict[str, tuple[str, str, Decimal]], before: dict[str, object] | None) -> tuple[Worse, ...]:
    if not before:
        return ()
    previous = before.get("customers", {})
    assert isinstance(previous, dict)
    worse = [
        Worse(name, currency, amount, Decimal(str(previous.get(key, "0"))))
        for key, (name, currency, amount) in owed.items()
        if amount > Decimal(str(previous.get(key, "0")))
    ]
    worse.sort(key=lambda w: -(w.now - w.before))
    return tuple(worse[:WORSE_CUSTOMERS])


def _warnings(
    cash: CashPosition, consents: list[tuple[str, dt.datetime]], now: dt.datetime
) -> tuple[Warning, ...]:
    found = []
    for source in cash.sources:
        if not source.connected:
            continue
        if source.needs_reconnect:
            found.append(Warning("needs_reconnect", source.title, source.last_success_at))
        elif source.failing:
            found.append(Warning("failing", source.title, source.last_success_at))
        elif source.last_success_at is None or now - source.last_success_at > STALE_AFTER:
            found.append(Warning("stale", source.title, source.last_success_at))
    titles = {source.provider: source.title for source in cash.sources}
    for provider, expires in consents:
        if expires - now <= CONSENT_WARNING:
            found.append(Warning("consent_expiring", titles.get(provider, provider), expires))
    return tuple(found)


def _data_as_of(cash: CashPosition) -> dt.datetime | None:
    """The oldest last success among the connected sources: how old the figures may be."""
    moments = [s.last_success_at for s in cash.sources if s.connected and s.last_success_at is not None]
    return min(moments) if moments else None


async def _series(session: Session, workspace_id: int, cash: CashPosition, as_of: dt.date) -> Series | None:
    """Daily cash in the main currency: back from today's balance, forward with what falls due."""
    if not cash.totals or cash.totals[0].accounts == 0:
        return None
    total = cash.totals[0]
    start = as_of - dt.timedelta(days=HISTORY_DAYS)
    nets = await queries.daily_net(session, workspace_id, total.currency, start)
    # Only what falls due ahead: an invoice already overdue is no promise about any given day.
    dues = await queries.due_per_day(
        session,
        workspace_id,
        total.currency,
        as_of + dt.timedelta(days=1),
        as_of + dt.timedelta(days=FORECAST_DAYS),
    )
    history = []
    balance = total.balance
    for offset in range(HISTORY_DAYS + 1):
        day = as_of - dt.timedelta(days=offset)
        history.append((day, balance))
        balance -= nets.get(day, Decimal(0))
    history.reverse()
    expected = total.balance
    forecast = []
    for offset in range(1, FORECAST_DAYS + 1):
        day = as_of + dt.timedelta(days=offset)
        expected += dues.get(day, Decimal(0))
        forecast.append((day, expected))
    return Series(total.currency, tuple(history), tuple(forecast))

"""The cash position behind /cash: totals per currency, each account, 7-day change, bank vs ledger gap.

Computed from synced data only (never a provider call), in one read transaction, and served from
the report cache (at most its TTL stale, dropped when a sync commits).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from bot.clock import Clock
from bot.domain import mask_reference
from bot.features.freshness import SourceStatus, WorkspaceCalendar, source_statuses
from bot.features.report_cache import Codec, ReportCache
from storage import reports
from storage.database import Database, Session

CHANGE_DAYS = 7
ZERO = Decimal(0)


@dataclass(frozen=True)
class AccountLine:
    """One bank account as /cash lists it; the IBAN is masked before it is ever cached."""

    bank: str
    name: str | None
    masked_reference: str
    currency: str
    balance: Decimal
    change: Decimal
    synced_at: dt.datetime | None
    sync_problem: str | None


@dataclass(frozen=True)
class CurrencyTotal:
    """Everything held in one currency, and how it compares with the books."""

    currency: str
    balance: Decimal
    change: Decimal
    accounts: int
    ledger: Decimal | None
    ledger_date: dt.date | None
    # False when bank accounts in other currencies sit in the same ledger (converted by the books):
    # bank and books then do not add up in one currency, and no gap is claimed.
    comparable: bool = True

    @property
    def unbooked(self) -> Decimal | None:
        """Bank minus books: positive is money at the bank not yet booked in Yuki (None without both)."""
        if self.ledger is None or self.accounts == 0 or not self.comparable:
            return None
        return self.balance - self.ledger


@dataclass(frozen=True)
class CashPosition:
    """The whole /cash answer, before rendering."""

    computed_at: dt.datetime
    as_of: dt.date
    change_days: int
    totals: tuple[CurrencyTotal, ...]
    accounts: tuple[AccountLine, ...]
    sources: tuple[SourceStatus, ...]

    @property
    def stamp(self) -> str:
        return self.computed_at.isoformat()

    @property
    def bank(self) -> SourceStatus:
        return self.sources[0]

    @property
    def books(self) -> SourceStatus:
        return self.sources[1]


CODEC = Codec(CashPosition)


class CashService:
    """Computes (and caches) a workspace's cash position."""

    def __init__(
        self,
        database: Database,
        cache: ReportCache,
        calendar: WorkspaceCalendar,
        *,
        stale_after: dt.timedelta,
        clock: Clock,
    ) -> None:
        self._database = database
        self._cache = cache
        self._calendar = calendar
        self._stale_after = stale_after
        self._clock = clock

    async def position(self, workspace_id: int, *, fresh: bool = False) -> CashPosition:
        """The cash position; `fresh` skips the cache (a follow-up right after a sync)."""
        as_of = await self._calendar.today(workspace_id, self._clock.now())
        if fresh:
            return await self.compute(workspace_id, as_of)
        return await self._cache.get_or_compute(
            str(workspace_id), f"cash|{as_of}", lambda: self.compute(workspace_id, as_of), CODEC
        )

    async def compute(self, workspace_id: int, as_of: dt.date) -> CashPosition:
        async with self._database.read() as session:
            sources = await reports.sources(session, workspace_id)
            return await self.compute_in(session, workspace_id, as_of, sources)

    async def compute_in(
        self, session: Session, workspace_id: int, as_of: dt.date, sources: list[reports.SourceRow]
    ) -> CashPosition:
        """The same figures inside a caller's read session (the digest reads everything in one)."""
        now = self._clock.now()
        accounts = await reports.bank_accounts(session, workspace_id)
        changes = await reports.changes_since(session, workspace_id, as_of - dt.timedelta(days=CHANGE_DAYS))
        ledgers = await reports.ledger_totals(session, workspace_id)
        lines = tuple(sorted((_line(a, changes.get(a.id, ZERO)) for a in accounts), key=_display_order))
        return CashPosition(
            computed_at=now,
            as_of=as_of,
            change_days=CHANGE_DAYS,
            totals=_totals(lines, ledgers),
            accounts=lines,
            sources=source_statuses(sources, now, self._stale_after),
        )


def _line(account: reports.AccountRow, change: Decimal) -> AccountLine:
    problem = account.sync_status if account.sync_status in ("error", "failed") else None
    return AccountLine(
        bank=account.bank_name or account.description or "Bank account",
        name=account.description if account.bank_name else None,
        masked_reference=mask_reference(account.reference, account.reference_type),
        currency=account.currency,
        balance=account.balance,
        change=change,
        synced_at=account.synced_at,
        sync_problem=problem,
    )


def _display_order(line: AccountLine) -> tuple[str, Decimal]:
    return line.currency, -line.balance


def _totals(lines: Iterable[AccountLine], ledgers: list[reports.LedgerRow]) -> tuple[CurrencyTotal, ...]:
    sums: dict[str, tuple[Decimal, Decimal, int]] = {}
    for line in lines:
        balance, change, count = sums.get(line.currency, (ZERO, ZERO, 0))
        sums[line.currency] = (balance + line.balance, change + line.change, count + 1)
    books = {ledger.currency: ledger for ledger in ledgers}
    # Yuki keeps its bank ledgers in the administration's currency, foreign accounts converted.
    comparable = not (set(sums) - set(books))
    currencies = sorted(set(sums) | set(books), key=lambda c: (c != "EUR", c))
    totals = []
    for currency in currencies:
        balance, change, count = sums.get(currency, (ZERO, ZERO, 0))
        ledger = books.get(currency)
        totals.append(
            CurrencyTotal(
                currency=currency,
                balance=balance,
                change=change,
                accounts=count,
                ledger=None if ledger is None else ledger.amount,
                ledger_date=None if ledger is None else ledger.balance_date,
                comparable=comparable,
            )
        )
    return tuple(totals)

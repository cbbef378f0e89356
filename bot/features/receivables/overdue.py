"""Overdue receivables behind /overdue: totals, ageing, credit notes netted per customer, filters, pages.

- Ageing by days past the due date, counted in the workspace's timezone: 1-30, 31-60, 61-90, 90+.
- Credit notes (and other negative open items of a customer) are netted per customer and currency
  against that customer's overdue amounts, oldest bucket first, never below zero: the totals say
  what customers really owe; the invoice list keeps each invoice's own open amount.
- Filters: a minimum number of days overdue, and words that must all occur in the customer's
  name (case- and accent-insensitive, matched in Python so both databases behave the same).
- The largest invoices come a page at a time, from an ordered scan that stops after the page.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from bot.clock import Clock
from bot.errors import UserError
from bot.features.freshness import SourceStatus, WorkspaceCalendar, source_statuses
from bot.features.report_cache import Codec, ReportCache
from storage import reports
from storage.database import Database

PAGE_SIZE = 10
MAX_MIN_DAYS = 3650
MAX_WORDS = 6
MAX_WORD_LENGTH = 40
BUCKETS = (("1-30", 1, 30), ("31-60", 31, 60), ("61-90", 61, 90), ("90+", 91, None))
ZERO = Decimal(0)
USAGE = (
    "Usage: `/overdue [min-days] [customer words] [public]`, for example `/overdue`, `/overdue 60` or "
    f"`/overdue 30 acme`. min-days is a whole number from 0 to {MAX_MIN_DAYS}; give at most "
    f"{MAX_WORDS} words of the customer's name, each at most {MAX_WORD_LENGTH} characters."
)
_NUMBER = re.compile(r"[+-]?[0-9]+")


@dataclass(frozen=True)
class OverdueQuery:
    """What the reader asked for: filters, the page, and whether to answer in the channel."""

    min_days: int = 1
    words: tuple[str, ...] = ()
    page: int = 1
    public: bool = False

    @property
    def filter_key(self) -> str:
        return f"{self.min_days}|{' '.join(self.words)}"

    def button_value(self, page: int) -> str:
        """What a "Show more" button carries back (only the filters and the page; no data)."""
        return json.dumps({"m": self.min_days, "w": list(self.words), "p": page}, ensure_ascii=False)


def fold(text: str) -> str:
    """Case- and accent-insensitive form of a text: "Société" and "SOCIETE" both become "societe"."""
    decomposed = unicodedata.normalize("NFKD", text)
    kept = "".join(ch for ch in decomposed if unicodedata.category(ch)[0] not in ("M", "C"))
    return kept.casefold()


def parse_overdue(text: str) -> OverdueQuery:
    """`[min-days] [customer words] [public]`; anything else raises UserError with the usage."""
    tokens = text.split()
    public = bool(tokens) and tokens[-1].casefold() == "public"
    if public:
        tokens = tokens[:-1]
    min_days = 1
    if tokens and _NUMBER.fullmatch(tokens[0]):
        min_days = _min_days(tokens.pop(0))
    words = tuple(word for word in (fold(token) for token in tokens) if word)
    if len(words) > MAX_WORDS or any(len(word) > MAX_WORD_LENGTH for word in words):
        raise UserError(USAGE)
    return OverdueQuery(min_days=min_days, words=words, page=1, public=public)


def _min_days(token: str) -> int:
    if len(token) > 5 or not 0 <= int(token) <= MAX_MIN_DAYS:
        raise UserError(USAGE)
    return max(1, int(token))


def parse_button(value: str) -> OverdueQuery:
    """The query a "Show more" button carries; a value that is not ours raises UserError."""
    try:
        data = json.loads(value)
        min_days, words, page = int(data["m"]), data["w"], int(data["p"])
    except (ValueError, KeyError, TypeError):
        raise UserError(USAGE) from None
    if not isinstance(words, list) or not all(isinstance(w, str) for w in words):
        raise UserError(USAGE)
    query = parse_overdue(" ".join([str(min_days), *words]))
    if not 1 <= page <= 100_000:
        raise UserError(USAGE)
    return OverdueQuery(query.min_days, query.words, page)


@dataclass(frozen=True)
class Bucket:
    """One ageing bucket after netting."""

    label: str
    amount: Decimal
    count: int


@dataclass(frozen=True)
class CurrencyOverdue:
    """Overdue receivables in one currency: gross, credit notes netted, net, by age."""

    currency: str
    count: int
    gross: Decimal
    credits_netted: Decimal
    total: Decimal
    buckets: tuple[Bucket, ...]


@dataclass(frozen=True)
class OverdueSummary:
    """Totals over every customer matching the filters (cached per filters, shared by all pages)."""

    computed_at: dt.datetime
    as_of: dt.date
    currencies: tuple[CurrencyOverdue, ...]
    invoices: int
    customers: tuple[str, ...] | None  # customer keys matching the words; None when no words were given
    sources: tuple[SourceStatus, ...]


@dataclass(frozen=True)
class InvoiceLine:
    """One overdue invoice as listed."""

    customer: str
    reference: str | None
    amount: Decimal
    currency: str
    due_date: dt.date
    days: int


@dataclass(frozen=True)
class OverduePage:
    """The whole /overdue answer for one page, before rendering."""

    summary: OverdueSummary
    min_days: int
    words: tuple[str, ...]
    page: int
    pages: int
    first: int  # 1-based position of the first listed invoice
    invoices: tuple[InvoiceLine, ...]

    @property
    def stamp(self) -> str:
        return f"{self.summary.computed_at.isoformat()}|{self.min_days}|{' '.join(self.words)}|{self.page}"

    @property
    def books(self) -> SourceStatus:
        return self.summary.sources[1]

    @property
    def query(self) -> OverdueQuery:
        return OverdueQuery(self.min_days, self.words, self.page)


PAGE_CODEC = Codec(OverduePage)


class ReceivablesService:
    """Computes (and caches) overdue receivables for a workspace."""

    def __init__(
        self,
        database: Database,
        cache: ReportCache,
        calendar: WorkspaceCalendar,
        *,
        stale_after: dt.timedelta,
        clock: Clock,
        page_size: int = PAGE_SIZE,
    ) -> None:
        self._database = database
        self._cache = cache
        self._calendar = calendar
        self._stale_after = stale_after
        self._clock = clock
        self.page_size = page_size

    async def overdue(self, workspace_id: int, query: OverdueQuery) -> OverduePage:
        as_of = await self._calendar.today(workspace_id, self._clock.now())
        key = f"overdue|{as_of}|{query.filter_key}|{query.page}"
        return await self._cache.get_or_compute(
            str(workspace_id), key, lambda: self._page(workspace_id, as_of, query), PAGE_CODEC
        )

    async def summarise(self, workspace_id: int, as_of: dt.date, query: OverdueQuery) -> OverdueSummary:
        async with self._database.read() as session:
            customers = await reports.overdue_by_customer(
                session, workspace_id, due_ranges(as_of, query.min_days)
            )
            sources = await reports.sources(session, workspace_id)
        return self.summary(customers, sources, as_of, query)

    def summary(
        self,
        customers: list[reports.CustomerRow],
        sources: list[reports.SourceRow],
        as_of: dt.date,
        query: OverdueQuery,
    ) -> OverdueSummary:
        """The summary of rows already read (the digest reads them in its own session)."""
        now = self._clock.now()
        matching = [c for c in customers if _matches(c.name, query.words)]
        return OverdueSummary(
            computed_at=now,
            as_of=as_of,
            currencies=_per_currency(matching, query.min_days),
            invoices=sum(sum(c.bucket_counts) for c in matching),
            customers=tuple(sorted(c.customer_key for c in matching)) if query.words else None,
            sources=source_statuses(sources, now, self._stale_after),
        )

    async def _page(self, workspace_id: int, as_of: dt.date, query: OverdueQuery) -> OverduePage:
        # Summarised afresh for each page computed: a page is cached for the TTL, so a summary taken
        # from the cache could make its totals twice as old as the cache promises.
        summary = await self.summarise(workspace_id, as_of, query)
        pages = max(1, math.ceil(summary.invoices / self.page_size))
        page = min(max(1, query.page), pages)
        skip = (page - 1) * self.page_size
        allowed = None if summary.customers is None else set(summary.customers)
        lines: list[InvoiceLine] = []
        async with self._database.read() as session:
            cutoff = as_of - dt.timedelta(days=query.min_days)
            async for row in reports.overdue_invoices(session, workspace_id, cutoff):
                if allowed is not None and row.customer_key not in allowed:
                    continue
                if skip:
                    skip -= 1
                    continue
                lines.append(_invoice(row, as_of))
                if len(lines) == self.page_size:
                    break
        return OverduePage(
            summary=summary,
            min_days=query.min_days,
            words=query.words,
            page=page,
            pages=pages,
            first=(page - 1) * self.page_size + 1,
            invoices=tuple(lines),
        )


def due_ranges(as_of: dt.date, min_days: int) -> list[reports.DueRange]:
    """The due dates of each ageing bucket, leaving out invoices fewer than `min_days` overdue."""
    ranges = []
    for _, low, high in BUCKETS:
        first = dt.date.min if high is None else as_of - dt.timedelta(days=high)
        last = as_of - dt.timedelta(days=max(low, min_days))
        ranges.append(reports.DueRange(first, last))
    return ranges


def _matches(name: str, words: tuple[str, ...]) -> bool:
    if not words:
        return True
    folded = fold(name)
    return all(word in folded for word in words)


def net_buckets(amounts: Iterable[Decimal], credits: Decimal) -> tuple[list[Decimal], Decimal]:
    """Apply a customer's credit (a negative sum) to their overdue buckets, oldest first; what was netted."""
    remaining = -credits if credits < 0 else ZERO
    netted = list(amounts)
    for index in reversed(range(len(netted))):
        used = min(remaining, netted[index])
        netted[index] -= used
        remaining -= used
    return netted, (-credits if credits < 0 else ZERO) - remaining


def _per_currency(customers: Iterable[reports.CustomerRow], min_days: int) -> tuple[CurrencyOverdue, ...]:
    sums: dict[str, tuple[list[Decimal], list[int], Decimal, Decimal]] = {}
    for customer in customers:
        amounts, counts, gross, netted = sums.setdefault(
            customer.currency, ([ZERO] * len(BUCKETS), [0] * len(BUCKETS), ZERO, ZERO)
        )
        after, used = net_buckets(customer.bucket_amounts, customer.credits)
        for index, amount in enumerate(after):
            amounts[index] += amount
            counts[index] += customer.bucket_counts[index]
        sums[customer.currency] = (amounts, counts, gross + sum(customer.bucket_amounts, ZERO), netted + used)
    return tuple(
        CurrencyOverdue(
            currency=currency,
            count=sum(counts),
            gross=gross,
            credits_netted=netted,
            total=gross - netted,
            buckets=tuple(
                Bucket(label, amounts[i], counts[i])
                for i, (label, _, high) in enumerate(BUCKETS)
                if high is None or high >= min_days  # a bucket the filter leaves empty is not shown
            ),
        )
        for currency, (amounts, counts, gross, netted) in sorted(
            sums.items(), key=lambda item: (item[0] != "EUR", item[0])
        )
    )


def _invoice(row: reports.InvoiceRow, as_of: dt.date) -> InvoiceLine:
    return InvoiceLine(
        customer=row.customer,
        reference=row.reference,
        amount=row.amount,
        currency=row.currency,
        due_date=row.due_date,
        days=(as_of - row.due_date).days,
    )

"""What the Yuki client returns: plain, immutable values with exact amounts."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal


@dataclass(frozen=True, slots=True)
class Administration:
    """An administration (a company's books) the access key reaches."""

    id: str
    name: str
    domain_id: str | None = None
    country: str | None = None


@dataclass(frozen=True, slots=True)
class OutstandingItem:
    """A receivable (debtor item) or payable (creditor item) still open in Yuki.

    Credit notes are items with a negative amount. The documented schema has no currency;
    an item without one is in the administration's own currency.
    """

    id: str
    open_amount: Decimal
    currency: str
    original_amount: Decimal | None = None
    contact: str | None = None
    contact_code: str | None = None
    contact_id: str | None = None
    reference: str | None = None
    description: str | None = None
    type_name: str | None = None
    type_id: str | None = None
    date: dt.date | None = None
    due_date: dt.date | None = None


@dataclass(frozen=True, slots=True)
class ItemFailure:
    """An item Yuki sent that could not be read: which one (its id, or a stand-in) and why."""

    key: str
    reason: str


@dataclass(frozen=True)
class OutstandingItems:
    """One complete outstanding-items answer: the items read and the ones that failed."""

    items: list[OutstandingItem] = field(default_factory=list)
    failures: list[ItemFailure] = field(default_factory=list)
    declared_count: int | None = None
    """The answer's own count of its items, when it carries one (not documented: read if present)."""


@dataclass(frozen=True, slots=True)
class GLAccountBalance:
    """A general-ledger account's balance from GLAccountBalance (credit balances negative)."""

    code: str
    amount: Decimal | None
    description: str | None = None
    balance_type: str | None = None
    problem: str | None = None  # why `amount` is None: the answer's value could not be read

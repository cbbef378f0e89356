"""Plain values shared by every layer: money, providers, connection states."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from decimal import Decimal


class Provider(enum.StrEnum):
    """The outside systems a workspace connects."""

    PONTO = "ponto"
    YUKI = "yuki"


class ConnectionState(enum.StrEnum):
    """Life cycle of a workspace's connection to a provider."""

    ACTIVE = "active"
    NEEDS_REAUTH = "needs_reauth"
    FAILING = "failing"
    DISCONNECTED = "disconnected"


class SyncOutcome(enum.StrEnum):
    """How a sync run ended."""

    RUNNING = "running"
    SUCCESS = "success"
    PARTIAL = "partial"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class Actor:
    """The Slack user behind a request, as far as cashbot needs to know them."""

    team_id: str
    user_id: str
    is_admin: bool = False
    locale: str | None = None
    tz: str | None = None


@dataclass(frozen=True, slots=True)
class Money:
    """An exact amount in one currency; never a float."""

    amount: Decimal
    currency: str

    def __post_init__(self) -> None:
        if not isinstance(self.amount, Decimal):
            raise TypeError("Money.amount must be a Decimal")
        if len(self.currency) != 3 or not self.currency.isalpha() or not self.currency.isupper():
            raise ValueError(f"not an ISO 4217 currency code: {self.currency!r}")

    @classmethod
    def zero(cls, currency: str) -> Money:
        return cls(Decimal(0), currency)

    def __add__(self, other: Money) -> Money:
        self._same_currency(other)
        return Money(self.amount + other.amount, self.currency)

    def __sub__(self, other: Money) -> Money:
        self._same_currency(other)
        return Money(self.amount - other.amount, self.currency)

    def __neg__(self) -> Money:
        return Money(-self.amount, self.currency)

    def _same_currency(self, other: Money) -> None:
        if other.currency != self.currency:
            raise ValueError(f"cannot combine {self.currency} with {other.currency}")


@dataclass(frozen=True)
class LinkGrant:
    """What a valid link stands for: which workspace and Slack user asked to connect what."""

    link_id: int
    workspace_id: int
    team_id: str
    slack_user_id: str
    provider: Provider


def mask_reference(reference: str | None, reference_type: str | None) -> str:
    """ "BE68 •••• 0197" for an IBAN; any other reference keeps only its last four characters."""
    compact = "".join((reference or "").split())
    if len(compact) < 8:
        return "••••" if compact else "—"
    if (reference_type or "IBAN").upper() == "IBAN" and compact[:2].isalpha():
        return f"{compact[:4].upper()} •••• {compact[-4:]}"
    return f"•••• {compact[-4:]}"

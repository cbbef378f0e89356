"""Yuki's part in /cashbot connect|disconnect|status, and its per-connection settings."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Protocol

from bot.domain import Provider
from bot.errors import UserError
from bot.providers.base import DisconnectResult
from bot.providers.connections import ConnectionService, ConnectionView
from bot.providers.yuki.api import CallGate, YukiClient
from bot.providers.yuki.call_budget import DailyCallBudget
from storage.database import Database
from storage.yuki import count_unparsed

BELGIAN_BANK_AND_CASH = ("55", "57")  # PCMN/MAR: class 55 banks, class 57 cash
MAX_PREFIXES = 10
_PREFIX = re.compile(r"[0-9]{1,12}")  # ledger account codes are numeric in BE and NL charts
_CURRENCY = re.compile(r"[A-Z]{3}")


class YukiClientFactory(Protocol):
    """Makes a client for one access key, its calls counted through `gate`."""

    def __call__(self, access_key: str, *, gate: CallGate | None, currency: str = "EUR") -> YukiClient: ...


@dataclass(frozen=True)
class YukiSettings:
    """What a workspace may tune about its Yuki sync (kept in `connection.settings`)."""

    bank_gl_prefixes: tuple[str, ...] = BELGIAN_BANK_AND_CASH
    currency: str = "EUR"
    include_bank_transactions: bool = False

    @classmethod
    def of(cls, raw: dict[str, Any] | None) -> YukiSettings:
        """Read stored settings; anything missing or malformed falls back to the default."""
        raw = raw or {}
        prefixes = raw.get("bank_gl_prefixes")
        valid = (
            isinstance(prefixes, list)
            and bool(prefixes)
            and all(isinstance(p, str) and _PREFIX.fullmatch(p) for p in prefixes)
        )
        currency = raw.get("currency")
        return cls(
            bank_gl_prefixes=tuple(prefixes)
            if valid and isinstance(prefixes, list)
            else BELGIAN_BANK_AND_CASH,
            currency=currency if isinstance(currency, str) and _CURRENCY.fullmatch(currency) else "EUR",
            include_bank_transactions=raw.get("include_bank_transactions") is True,
        )

    @staticmethod
    def parse_prefixes(text: str | None) -> tuple[str, ...]:
        """Ledger account prefixes typed by a person ("55, 57"); UserError when unusable."""
        words = [word for word in re.split(r"[\s,;]+", text or "") if word]
        if not words:
            return BELGIAN_BANK_AND_CASH
        if len(words) > MAX_PREFIXES or not all(_PREFIX.fullmatch(word) for word in words):
            raise UserError(
                "Enter the bank and cash ledger accounts as code prefixes separated by commas, "
                f"for example 55, 57 (at most {MAX_PREFIXES})."
            )
        return tuple(dict.fromkeys(words))

    def as_dict(self) -> dict[str, Any]:
        return {
            "bank_gl_prefixes": list(self.bank_gl_prefixes),
            "currency": self.currency,
            "include_bank_transactions": self.include_bank_transactions,
        }


class YukiPlugin:
    """Disconnect deletes the key (Yuki has no call to revoke one); status shows the calls left."""

    provider = Provider.YUKI
    title = "Yuki"

    def __init__(self, database: Database, connections: ConnectionService, budget: DailyCallBudget) -> None:
        self._database = database
        self._connections = connections
        self._budget = budget

    def configuration_problem(self) -> str | None:
        return None  # each workspace brings its own key; the server needs nothing

    async def disconnect(self, workspace_id: int) -> DisconnectResult:
        before = await self._connections.find(workspace_id, Provider.YUKI)
        had = before is not None and before.state.value != "disconnected"
        await self._connections.disconnect(workspace_id, Provider.YUKI)
        return DisconnectResult(
            had_connection=had,
            revoked_at_provider=None,
            note="Yuki cannot revoke a key from outside: delete it in Yuki (Settings → Web services) "
            "if nothing else uses it."
            if had
            else None,
        )

    async def status_facts(self, view: ConnectionView) -> list[str]:
        facts: list[str] = []
        if view.scope_key:
            left = await self._budget.remaining(view.scope_key)
            facts.append(
                f"Yuki calls left today: {left} of {self._budget.limit} (resets at midnight, Amsterdam time)"
            )
        settings = YukiSettings.of(view.settings)
        facts.append(
            "Bank and cash ledger accounts: " + ", ".join(f"{p}…" for p in settings.bank_gl_prefixes)
        )
        async with self._database.read() as session:
            unparsed = await count_unparsed(session, view.workspace_id)
        if unparsed:
            facts.append(f"{unparsed} Yuki item(s) could not be read; they are retried at every sync")
        return facts

"""The Yuki sync: outstanding receivables and payables, and the bank and cash ledger balance.

Each answer is stored whole or not at all: a malformed or truncated answer raises before a
row is touched. Within a good answer, an item that does not parse is recorded as unparsed
(and stays open if it was open) instead of being dropped; it is read again at every sync.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any

from bot.clock import Clock
from bot.domain import Provider, SyncOutcome
from bot.errors import RateLimited, ReauthRequired
from bot.providers.base import SyncRun
from bot.providers.connections import ConnectionService, ConnectionView
from bot.providers.mass_close import CONFIRMED, MassClosePolicy
from bot.providers.yuki.api import GLAccountBalance, OutstandingItem, OutstandingItems, YukiClient
from bot.providers.yuki.call_budget import YUKI_DAY, DailyCallBudget, provisional_scope
from bot.providers.yuki.plugin import YukiClientFactory, YukiSettings
from storage.database import Database
from storage.yuki import (
    LedgerValues,
    OpenItemValues,
    close_vanished_items,
    count_open_items,
    record_unparsed,
    replace_ledger_balances,
    upsert_open_items,
)

log = logging.getLogger(__name__)

RECEIVABLE = "receivable"
PAYABLE = "payable"
MAX_LISTED_FAILURES = 25  # in sync_run.details; every one of them is in unparsed_item
MAX_GL_CODE = 32

Fetch = Callable[..., Awaitable[OutstandingItems]]


class YukiSyncer:
    """Syncs one Yuki connection; every call passes the domain's daily budget first."""

    provider = Provider.YUKI

    def __init__(
        self,
        database: Database,
        connections: ConnectionService,
        budget: DailyCallBudget,
        clients: YukiClientFactory,
        *,
        clock: Clock,
    ) -> None:
        self._database = database
        self._connections = connections
        self._budget = budget
        self._clients = clients
        self._clock = clock

    async def sync(self, connection: ConnectionView, run: SyncRun) -> None:
        view, credentials = await self._connections.load(connection.workspace_id, Provider.YUKI)
        key = str(credentials.get("access_key") or "")
        if not key or not view.external_id:
            raise ReauthRequired("yuki", "no access key or administration is stored", code="no_key")
        options = YukiSettings.of(view.settings)
        scope = view.scope_key or provisional_scope(key)
        seen_at = self._clock.now()
        async with self._clients(key, gate=self._budget.gate(scope), currency=options.currency) as yuki:
            try:
                await self._items(yuki, view, run, options, seen_at)
                await self._spend_confirmation(view)
                await self._ledger(yuki, view, run, options, seen_at)
            except RateLimited as error:
                if error.code == "daily_limit":  # Yuki's own count says stop: believe it
                    await self._budget.exhaust(scope)
                raise
            finally:
                run.api_calls += yuki.requests
        run.details["calls_left_today"] = await self._budget.remaining(scope)

    async def _spend_confirmation(self, view: ConnectionView) -> None:
        """A confirmation lets one sync through, not every later one."""
        if MassClosePolicy.of(view.settings).confirmed:
            settings = {k: v for k, v in (view.settings or {}).items() if k != CONFIRMED}
            await self._connections.update_settings(view.id, settings=settings)

    async def _items(
        self,
        yuki: YukiClient,
        view: ConnectionView,
        run: SyncRun,
        options: YukiSettings,
        seen_at: dt.datetime,
    ) -> None:
        kinds: tuple[tuple[str, Fetch], ...] = (
            (RECEIVABLE, yuki.outstanding_debtor_items),
            (PAYABLE, yuki.outstanding_creditor_items),
        )
        for kind, fetch in kinds:
            answer = await fetch(
                view.external_id, include_bank_transactions=options.include_bank_transactions
            )
            await run.heartbeat()
            await self._store_items(view, kind, answer, run, seen_at)

    async def _store_items(
        self, view: ConnectionView, kind: str, answer: OutstandingItems, run: SyncRun, seen_at: dt.datetime
    ) -> None:
        failures = [(failure.key, failure.reason) for failure in answer.failures]
        policy = MassClosePolicy.of(view.settings)
        async with self._database.write() as session:
            open_before = await count_open_items(session, workspace_id=view.workspace_id, kind=kind)
            # Unparsed first: closing skips them, so an item we could not read stays open.
            await record_unparsed(
                session, workspace_id=view.workspace_id, kind=kind, failures=failures, seen_at=seen_at
            )
            written = await upsert_open_items(
                session,
                workspace_id=view.workspace_id,
                connection_id=view.id,
                kind=kind,
                items=[_values(item) for item in answer.items],
                seen_at=seen_at,
            )
            closed = await close_vanished_items(
                session, workspace_id=view.workspace_id, kind=kind, seen_at=seen_at
            )
            # Raised inside the transaction: the upserts and closes above are rolled back.
            policy.check(
                "yuki",
                kind,
                open_before=open_before,
                closing=closed,
                listed=len(answer.items) + len(answer.failures),
                declared=answer.declared_count,
            )
        run.fetched += len(answer.items) + len(answer.failures)
        run.written += written + closed
        run.details[kind] = {"open": len(answer.items), "closed": closed, "unparsed": len(answer.failures)}
        if failures:
            run.outcome = SyncOutcome.PARTIAL
            listed = run.details.setdefault("unparsed", [])
            listed.extend({"kind": kind, "item": k, "reason": r} for k, r in failures[:MAX_LISTED_FAILURES])
            log.warning("yuki.items_unparsed", extra={"kind": kind, "count": len(failures)})

    async def _ledger(
        self,
        yuki: YukiClient,
        view: ConnectionView,
        run: SyncRun,
        options: YukiSettings,
        seen_at: dt.datetime,
    ) -> None:
        today = seen_at.astimezone(YUKI_DAY).date()
        lines = [
            line
            for line in await yuki.gl_account_balance(view.external_id or "", today)
            if line.code.startswith(options.bank_gl_prefixes)
        ]
        readable = [line for line in lines if line.amount is not None and len(line.code) <= MAX_GL_CODE]
        unreadable = [line for line in lines if line not in readable]
        async with self._database.write() as session:
            stored = await replace_ledger_balances(
                session,
                workspace_id=view.workspace_id,
                connection_id=view.id,
                balances=[_ledger_values(line, options.currency) for line in readable],
                keep_codes=[line.code[:MAX_GL_CODE] for line in unreadable],
                balance_date=today,
                fetched_at=seen_at,
            )
        run.written += stored
        total = sum((line.amount or Decimal(0) for line in readable), Decimal(0))
        run.details["ledger"] = {"date": today.isoformat(), "accounts": stored, "bank_and_cash": str(total)}
        if unreadable:
            run.outcome = SyncOutcome.PARTIAL
            run.details["ledger_unreadable"] = [_problem(line) for line in unreadable]


def _values(item: OutstandingItem) -> OpenItemValues:
    return {
        "provider_item_id": item.id,
        "contact_name": item.contact,
        "contact_code": item.contact_code,
        "reference": item.reference,
        "description": item.description,
        "item_type": item.type_name,
        "item_date": item.date,
        "due_date": item.due_date,
        "original_amount": item.original_amount,
        "open_amount": item.open_amount,
        "currency": item.currency,
    }


def _ledger_values(line: GLAccountBalance, currency: str) -> LedgerValues:
    return {
        "gl_code": line.code,
        "description": (line.description or "")[:255] or None,
        "amount": line.amount or Decimal(0),
        "currency": currency,
    }


def _problem(line: GLAccountBalance) -> dict[str, Any]:
    return {"code": line.code[:MAX_GL_CODE], "problem": line.problem or "the account code is too long"}

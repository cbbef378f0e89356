"""The Ponto sync: balances of every account, then new transactions, resumable at any point.

Per connection: one `GET /accounts` (balances, Ponto's synchronizedAt, consent expiry); then,
for each account whose state changed since its transactions were last complete, a sweep over
its transactions, newest first, that stops at the first transaction already stored.

A sweep that was killed half-way left `sweep_next_url` behind (saved in the same transaction
as the rows before it). The next run finishes that sweep first, down to the transactions that
were already complete, and only then starts a new sweep from the newest page. So "stop at the
first known id" never mistakes the top of an interrupted sweep for the end of the gap below it,
and history is never downloaded twice. Rows are committed in batches (`commit_rows`) with the
cursor; re-fetching a page after a crash stores nothing twice (ON CONFLICT DO NOTHING).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import zoneinfo
from collections.abc import AsyncGenerator, Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any

from bot.clock import Clock
from bot.domain import Provider, SyncOutcome
from bot.errors import ProviderError, RateLimited, ReauthRequired
from bot.providers.base import Alerts, SyncRun
from bot.providers.connections import ConnectionService, ConnectionView
from bot.providers.ponto.api import Account, Page, PontoClient, Synchronization, Transaction
from storage import ponto as banking
from storage.database import Database

log = logging.getLogger(__name__)

COMMIT_ROWS = 2500
PAGES_AHEAD = 4
SYNC_SUBTYPES = ("accountDetails", "accountTransactions")
RECENTLY_SYNCED = "accountRecentlySynchronized"
CONSENT_CODES = frozenset({"authorizationInvalid", "authorizationExpired"})

ClientFor = Callable[[ConnectionView], PontoClient]
Sleep = Callable[[float], Awaitable[None]]


@dataclass(frozen=True)
class SyncOptions:
    """Tunables of the Ponto sync (the composition root sets them from the settings)."""

    request_sync: bool = False  # POST /synchronizations first (Ponto syncs 4x a day by itself)
    poll_interval: float = 2.0
    max_polls: int = 15
    timezone: str = "Europe/Brussels"  # the banks' calendar, for execution and value dates
    commit_rows: int = COMMIT_ROWS
    # A sweep goes on this many days below the first stored transaction it meets: a booking the
    # bank reported late, dated before the newest stored one, is picked up without a requested
    # synchronization (0: stop at the first stored transaction).
    late_booking_days: int = 10


class PontoSyncer:
    """The Syncer the shared SyncService runs for Ponto connections."""

    provider = Provider.PONTO

    def __init__(
        self,
        database: Database,
        clients: ClientFor,
        connections: ConnectionService,
        alerts: Alerts,
        options: SyncOptions | None = None,
        *,
        sleep: Sleep = asyncio.sleep,
        clock: Clock,
    ) -> None:
        self.database = database
        self._clients = clients
        self._connections = connections
        self._alerts = alerts
        self.options = options or SyncOptions()
        self._tz = zoneinfo.ZoneInfo(self.options.timezone)
        self._sleep = sleep
        self._clock = clock

    async def sync(self, connection: ConnectionView, run: SyncRun) -> None:
        client = self._clients(connection)
        try:
            await self._sync(connection, client, run)
        finally:
            run.api_calls += client.calls

    async def _sync(self, connection: ConnectionView, client: PontoClient, run: SyncRun) -> None:
        accounts = await client.accounts()
        finished: list[Synchronization] = []
        if self.options.request_sync and accounts:
            finished = await self._request_synchronizations(client, accounts, run)
            accounts = await client.accounts()
        states = await self._store_accounts(connection, client, accounts)
        skipped = 0
        for account in accounts:
            swept = await _AccountSweep(self, client, account, states[account.id], run).run()
            skipped += not swept
            await run.heartbeat()
        # After the sweeps: an old late booking stored first would look like the end of a
        # first backfill that is still being resumed, and the history below it never fetched.
        await self._store_updated(client, finished, states, run)
        run.details["accounts"] = len(accounts)
        run.details["accounts_unchanged"] = skipped
        await self._watch_consent(connection, accounts, run)

    # ---- accounts ---------------------------------------------------------------------------------
    async def _store_accounts(
        self, connection: ConnectionView, client: PontoClient, accounts: list[Account]
    ) -> dict[str, banking.SweepState]:
        now = self._clock.now()
        states: dict[str, banking.SweepState] = {}
        async with self.database.write() as session:
            for account in accounts:
                details = _account_details(connection.id, account, now)
                states[account.id] = await banking.upsert_account(
                    session, connection.workspace_id, account.id, details
                )
            await banking.deactivate_missing(session, connection.id, [a.id for a in accounts])
        names = await self._bank_names(client, states.values())
        if names:
            async with self.database.write() as session:
                await banking.set_bank_names(session, names)
        return states

    async def _bank_names(self, client: PontoClient, states: Iterable[banking.SweepState]) -> dict[str, str]:
        """Names of banks we have not named yet (one call per new bank, then never again)."""
        unnamed = {
            s.financial_institution_id for s in states if s.financial_institution_id and not s.bank_name
        }
        names: dict[str, str] = {}
        for institution_id in sorted(unnamed):
            try:
                names[institution_id] = (await client.financial_institution(institution_id)).name
            except (ReauthRequired, RateLimited):
                raise
            except ProviderError as error:  # a bank's name is not worth failing the balances for
                log.warning(
                    "ponto.bank_name_failed", extra={"code": error.code, "request_id": error.request_id}
                )
        return names

    # ---- optional synchronizations ---------------------------------------------------------------
    async def _request_synchronizations(
        self, client: PontoClient, accounts: list[Account], run: SyncRun
    ) -> list[Synchronization]:
        """Ask Ponto to refresh each account from its bank; a recent sync means "use what Ponto has"."""
        pending: list[Synchronization] = []
        recent = 0
        for account in accounts:
            for subtype in SYNC_SUBTYPES:
                try:
                    pending.append(await client.create_synchronization(account.id, subtype))
                except ProviderError as error:
                    if error.code != RECENTLY_SYNCED:
                        raise
                    recent += 1
        finished = await self._poll(client, pending)
        run.details["synchronizations"] = {
            "requested": len(pending),
            "recently_synced": recent,
            "failed": sum(1 for s in finished if s.status == "error"),
            "unfinished": sum(1 for s in finished if not s.finished),
        }
        return finished

    async def _store_updated(
        self,
        client: PontoClient,
        finished: list[Synchronization],
        states: dict[str, banking.SweepState],
        run: SyncRun,
    ) -> None:
        """Store what each successful synchronization updated: a booking that arrived late with an
        older date than the newest stored one sits below where the sweep stops, and only shows here.
        """
        now = self._clock.now()
        added = 0
        for sync in finished:
            state = states.get(sync.resource_id or "")
            if sync.status != "success" or not sync.updated_transactions_url or state is None:
                continue
            transactions = await client.updated_transactions(sync.updated_transactions_url)
            rows = [self.transaction_row(state.id, t, now) for t in transactions]
            if rows:
                async with self.database.write() as session:
                    await banking.insert_transactions(session, rows)
                added += len(rows)
        run.fetched += added
        run.written += added
        run.details["updated_transactions"] = added

    async def _poll(self, client: PontoClient, pending: list[Synchronization]) -> list[Synchronization]:
        """Poll until every synchronization finished, at most `max_polls` rounds (then go on)."""
        for _ in range(self.options.max_polls):
            if all(s.finished for s in pending):
                break
            await self._sleep(self.options.poll_interval)
            pending = [s if s.finished else await client.synchronization(s.id) for s in pending]
        return pending

    # ---- consent ----------------------------------------------------------------------------------
    async def _watch_consent(self, connection: ConnectionView, accounts: list[Account], run: SyncRun) -> None:
        """Record the earliest bank-consent expiry; alert per account whose consent lapsed."""
        expiries = [a.authorization_expires_at for a in accounts if a.authorization_expires_at]
        await self._connections.update_settings(connection.id, consent_expires_at=min(expiries, default=None))
        now = self._clock.now()
        lapsed = []
        for account in accounts:
            key = f"ponto:consent:{account.id}"
            if _consent_lapsed(account, now):
                lapsed.append(account.id)
                await self._alerts.raise_alert(
                    connection.workspace_id,
                    kind="bank_consent",
                    dedupe_key=key,
                    title=f"The bank consent for {account.reference or account.description or 'an account'} "
                    "has expired: renew it in Ponto",
                    detail={"account": account.id, "expired_at": account.authorization_expires_at},
                )
            else:
                await self._alerts.resolve(connection.workspace_id, key)
        if lapsed:
            run.outcome = SyncOutcome.PARTIAL
            run.details["consent_lapsed"] = lapsed

    # ---- row mapping -----------------------------------------------------------------------------
    def transaction_row(self, account_id: int, transaction: Transaction, now: dt.datetime) -> dict[str, Any]:
        value = transaction.value_date
        return {
            "account_id": account_id,
            "provider_transaction_id": transaction.id,
            "amount": transaction.amount,
            "currency": transaction.currency,
            "execution_date": transaction.execution_date.astimezone(self._tz).date(),
            "value_date": value.astimezone(self._tz).date() if value else None,
            "counterpart_name": _cut(transaction.counterpart_name, 255),
            "counterpart_reference": _cut(transaction.counterpart_reference, 64),
            "description": transaction.description,
            "remittance_information": transaction.remittance_information,
            "remittance_information_type": _cut(transaction.remittance_information_type, 16),
            "bank_transaction_code": _cut(transaction.bank_transaction_code, 64),
            "end_to_end_id": _cut(transaction.end_to_end_id, 64),
            "created_at": now,
        }


class _AccountSweep:
    """Brings one account's transactions up to date (see the module docstring for the order)."""

    def __init__(
        self,
        syncer: PontoSyncer,
        client: PontoClient,
        account: Account,
        state: banking.SweepState,
        run: SyncRun,
    ) -> None:
        self.syncer = syncer
        self.database = syncer.database
        self.client = client
        self.account = account
        self.state = state
        self.sync_run = run
        self.marker = _marker(account)

    async def run(self) -> bool:
        """False when the account is unchanged and nothing was fetched."""
        unchanged = (
            self.state.sweep_next_url is None
            and self.state.history_complete
            and self.state.transactions_marker == self.marker
        )
        if unchanged:
            return False
        if self.state.sweep_next_url is not None:
            await self._walk(self.state.sweep_next_url, fresh=False)
        await self._walk(None, fresh=True)
        async with self.database.write() as session:
            await banking.save_sweep(session, self.state.id, transactions_marker=self.marker)
        return True

    async def _walk(self, url: str | None, *, fresh: bool) -> None:
        """Fetch pages from `url` (None: the newest) until a stored id or the end of history."""
        rows: list[dict[str, Any]] = []
        newest: str | None = None
        last: Page[Transaction] | None = None
        anchor: dt.datetime | None = None  # date of the first stored transaction met
        pages = self._pages_ahead(url) if self._first_backfill else self._pages(url)
        writer = _OrderedWriter(self._commit)
        try:
            async for page in pages:
                last = page
                if fresh and newest is None and page.items:
                    newest = page.items[0].id
                known = await self._known(page)
                now = self.database.clock.now()
                rows += [
                    self.syncer.transaction_row(self.state.id, t, now)
                    for t in page.items
                    if t.id not in known
                ]
                self.sync_run.fetched += len(page.items)
                anchor = anchor or _first_known_date(page, known)
                done = page.next_url is None or self._below_look_back(page, anchor)
                if done or len(rows) >= self.syncer.options.commit_rows:
                    await writer.submit(rows, page, done=done, newest=newest)
                    rows = []
                if done:
                    break
            await writer.close()
        except ProviderError:
            if rows and last is not None:  # keep what arrived before the failure, and where it ended
                await writer.submit(rows, last, done=False, newest=newest)
            await writer.close()
            raise
        finally:
            await pages.aclose()
            await writer.abort()  # nothing left to do after close(); on any other failure, stop it

    def _below_look_back(self, page: Page[Transaction], anchor: dt.datetime | None) -> bool:
        """Whether the sweep has gone far enough below the stored transactions to stop."""
        if anchor is None:
            return False
        days = self.syncer.options.late_booking_days
        if days == 0 or not page.items:
            return True
        return min(t.execution_date for t in page.items) < anchor - dt.timedelta(days=days)

    @property
    def _first_backfill(self) -> bool:
        """Nothing of this account is stored yet, so no page can hold a known id."""
        return not self.state.history_complete and self.state.sweep_newest_id is None

    async def _pages(self, url: str | None) -> AsyncGenerator[Page[Transaction], None]:
        """One page at a time: the next is fetched only when the caller asks (it may stop first)."""
        while True:
            page = await self.client.transactions_page(self.account.id, url)
            yield page
            if page.next_url is None:
                return
            url = page.next_url

    async def _pages_ahead(self, url: str | None) -> AsyncGenerator[Page[Transaction], None]:
        """Pages fetched by a task running ahead of the caller, so fetching and storing overlap.

        Only for a first backfill, where every page up to the end of history is needed anyway.
        """
        queue: asyncio.Queue[Page[Transaction] | BaseException] = asyncio.Queue(PAGES_AHEAD)

        async def fetch() -> None:
            next_url = url
            try:
                while True:
                    page = await self.client.transactions_page(self.account.id, next_url)
                    await queue.put(page)
                    if page.next_url is None:
                        return
                    next_url = page.next_url
            except Exception as error:  # handed over in order, after the pages before it
                await queue.put(error)

        fetcher = asyncio.create_task(fetch())
        try:
            while True:
                item = await queue.get()
                if isinstance(item, BaseException):
                    raise item
                yield item
                if item.next_url is None:
                    return
        finally:
            fetcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await fetcher

    async def _known(self, page: Page[Transaction]) -> set[str]:
        if self._first_backfill:
            return set()
        async with self.database.read() as session:
            return await banking.known_transaction_ids(session, self.state.id, [t.id for t in page.items])

    async def _commit(
        self, rows: list[dict[str, Any]], page: Page[Transaction], *, done: bool, newest: str | None
    ) -> None:
        """Store the rows and move the cursor in one transaction."""
        sweep: dict[str, Any] = {"sweep_next_url": None if done else page.next_url}
        if newest is not None:
            sweep["sweep_newest_id"] = newest
        if done and page.next_url is None:
            sweep["history_complete"] = True
        async with self.database.write() as session:
            await banking.insert_transactions(session, rows)
            await banking.save_sweep(session, self.state.id, **sweep)
        self.sync_run.written += len(rows)


Commit = Callable[..., Awaitable[None]]


class _OrderedWriter:
    """Commits batches one after another in a task of its own, so the next pages are fetched and
    mapped while a batch is being written (SQLite and asyncpg do their part off this thread).

    At most one batch waits behind the one being written; batches are committed in order, each
    with its cursor, so a crash still leaves rows and cursor consistent. A failed write is raised
    at the next submit, or at close.
    """

    def __init__(self, commit: Commit) -> None:
        self._commit = commit
        self._queue: asyncio.Queue[tuple[tuple[Any, ...], dict[str, Any]] | None] = asyncio.Queue(maxsize=1)
        self._task = asyncio.create_task(self._drain())

    async def _drain(self) -> None:
        while (batch := await self._queue.get()) is not None:
            args, kwargs = batch
            await self._commit(*args, **kwargs)

    async def submit(self, *args: Any, **kwargs: Any) -> None:
        if self._task.done():
            await self._task  # raises the write's error
            raise RuntimeError("the writer stopped")  # pragma: no cover - _drain only ends on None
        put = asyncio.ensure_future(self._queue.put((args, kwargs)))
        await asyncio.wait({put, self._task}, return_when=asyncio.FIRST_COMPLETED)
        if not put.done():
            put.cancel()
            await self._task

    async def abort(self) -> None:
        """Stop without writing what is still queued (the cursor was not moved for it either)."""
        if not self._task.done():
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def close(self) -> None:
        """Wait until every submitted batch is committed (raises a write's error)."""
        if not self._task.done():
            put = asyncio.ensure_future(self._queue.put(None))
            await asyncio.wait({put, self._task}, return_when=asyncio.FIRST_COMPLETED)
            if not put.done():
                put.cancel()
        await self._task


def _account_details(connection_id: int, account: Account, now: dt.datetime) -> dict[str, Any]:
    latest = account.latest_synchronization
    errors = ", ".join(problem.code for problem in latest.errors) if latest and latest.errors else None
    return {
        "connection_id": connection_id,
        "financial_institution_id": account.financial_institution_id,
        "reference": _cut(account.reference, 64),
        "reference_type": _cut(account.reference_type, 16),
        "description": _cut(account.description, 255),
        "holder_name": _cut(account.holder_name, 255),
        "product": _cut(account.product, 255),
        "subtype": _cut(account.subtype, 32),
        "currency": account.currency,
        "current_balance": account.current_balance,
        "available_balance": account.available_balance,
        "balance_reference_at": account.balance_reference_at,
        "synced_at": account.synchronized_at,
        "fetched_at": now,
        "authorization_expires_at": account.authorization_expires_at,
        "availability": _cut(account.availability, 16),
        "latest_sync_status": _cut(latest.status, 16) if latest else None,
        "latest_sync_error": errors,
        "active": True,
    }


def _first_known_date(page: Page[Transaction], known: set[str]) -> dt.datetime | None:
    """The execution date of the first transaction on the page that is already stored."""
    return next((t.execution_date for t in page.items if t.id in known), None)


def _marker(account: Account) -> str:
    """The account state whose transactions a finished sweep covers: Ponto's sync time and balance."""
    synced = account.synchronized_at.isoformat() if account.synchronized_at else "-"
    return f"{synced}|{account.current_balance}"[:128]


def _consent_lapsed(account: Account, now: dt.datetime) -> bool:
    latest = account.latest_synchronization
    if latest is not None and any(problem.code in CONSENT_CODES for problem in latest.errors):
        return True
    return account.authorization_expires_at is not None and account.authorization_expires_at <= now


def _cut(value: str | None, limit: int) -> str | None:
    return None if value is None else value[:limit]

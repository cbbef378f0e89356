"""Sync now: enqueue at once (one pending per workspace), then a worker claims, syncs and follows up.

`request()` answers within the click: it refuses politely when a request is already waiting,
when the last sync started within the cooldown (banks throttle manual syncs for a few minutes),
or when a provider's daily call budget is nearly spent (then only the others are synced).
`run_pending()` is the leader's periodic job: it claims requests with a compare-and-swap, runs
them through SyncService, and hands the finished request (with its decrypted response_url, never
logged) to the follow-up, which replaces the clicked message with fresh figures.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import socket
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field

from bot.clock import Clock
from bot.domain import Provider, RequestOutcome
from bot.errors import ConstraintViolation
from bot.features.sync.runner import RunOutcome, SyncResult, SyncService
from bot.providers import registry
from bot.providers.base import CallBudget
from storage import reports
from storage import sync_requests as queries
from storage.crypto import SecretBox
from storage.database import Database
from storage.models import SyncRequest

log = logging.getLogger(__name__)

RESPONSE_URL_LIFETIME = dt.timedelta(minutes=30)  # Slack accepts posts to a response_url this long
STALE_CLAIM = dt.timedelta(minutes=10)  # a claim this old belonged to a process that died
BUSY_RETRY = dt.timedelta(seconds=10)  # another sync of the connection is running: look again soon
OK_OUTCOMES = (RunOutcome.SUCCESS, RunOutcome.PARTIAL)
PROVIDERS = frozenset(p.value for p in Provider)


@dataclass(frozen=True)
class SyncAsk:
    """Who clicked "Sync now", where, and how to show them the result."""

    workspace_id: int
    user_id: str
    channel_id: str
    response_url: str | None
    locale: str | None = None
    in_channel: bool = False


@dataclass(frozen=True)
class Enqueued:
    """The answer to a click: accepted (with the providers to sync) or why not."""

    accepted: bool
    reason: str | None = None  # "pending" | "cooldown" | "budget" | "not_connected"
    retry_in: dt.timedelta | None = None
    providers: tuple[str, ...] = ()
    skipped: str | None = None  # the title of a provider left out to spare its call budget
    calls_left: int | None = None  # that provider's calls left today


@dataclass(frozen=True)
class FinishedRequest:
    """A request that ran: where to show the fresh figures, and how each provider's sync ended."""

    id: int
    workspace_id: int
    team_id: str
    user_id: str | None
    channel_id: str | None
    response_url: str | None = field(repr=False)
    locale: str | None
    in_channel: bool
    created_at: dt.datetime
    results: tuple[SyncResult, ...]


FollowUp = Callable[[FinishedRequest], Awaitable[None]]


@dataclass(frozen=True)
class SyncNowRules:
    """When a click is refused."""

    cooldown: dt.timedelta = dt.timedelta(minutes=5)
    reserve_share: float = 0.1  # keep this share of a day's call budget for the scheduled syncs

    def reserve(self, budget: CallBudget) -> int:
        return max(10, int(budget.limit * self.reserve_share))


class SyncRequests:
    """Enqueues, claims and runs "Sync now" requests."""

    def __init__(
        self,
        database: Database,
        box: SecretBox,
        sync: SyncService,
        *,
        budgets: Mapping[str, CallBudget],
        rules: SyncNowRules | None = None,
        clock: Clock,
    ) -> None:
        self._database = database
        self._budgets = budgets
        self._box = box
        self._sync = sync
        self.rules = rules or SyncNowRules()
        self._clock = clock
        self._owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self._follow_ups: list[FollowUp] = []

    def on_finished(self, follow_up: FollowUp) -> None:
        self._follow_ups.append(follow_up)

    @staticmethod
    def _purpose(workspace_id: int) -> str:
        return f"sync_request.response_url:{workspace_id}"

    async def request(self, ask: SyncAsk) -> Enqueued:
        """Enqueue a sync for the workspace, or say politely why not."""
        now = self._clock.now()
        async with self._database.read() as session:
            sources = await reports.sources(session, ask.workspace_id)
            last = await reports.last_sync_started(session, ask.workspace_id)
        connected = [s for s in sources if s.state != "disconnected" and s.provider in PROVIDERS]
        if not connected:
            return Enqueued(False, "not_connected")
        if last is not None and now - last < self.rules.cooldown:
            return Enqueued(False, "cooldown", retry_in=self.rules.cooldown - (now - last))
        providers = [s.provider for s in connected]
        skipped, left = await self._spare_budgets(connected)
        if skipped is not None:
            providers.remove(skipped)
        title = registry.titles().get(skipped or "")
        if not providers:
            return Enqueued(False, "budget", skipped=title, calls_left=left)
        if not await self._insert(ask, providers, len(connected), now):
            return Enqueued(False, "pending")
        return Enqueued(True, providers=tuple(providers), skipped=title, calls_left=left)

    async def _spare_budgets(self, connected: list[reports.SourceRow]) -> tuple[str | None, int | None]:
        """The provider to leave out because its day's calls are nearly spent, and its calls left."""
        for source in connected:
            budget = self._budgets.get(source.provider)
            if budget is not None and source.scope_key:
                left = await budget.remaining(source.scope_key)
                if left < self.rules.reserve(budget):
                    return source.provider, left
        return None, None

    async def _insert(self, ask: SyncAsk, providers: list[str], connected: int, now: dt.datetime) -> bool:
        try:
            async with self._database.write() as session:
                queries.add_request(
                    session,
                    SyncRequest(
                        workspace_id=ask.workspace_id,
                        provider=None if len(providers) == connected else providers[0],
                        requested_by_user_id=ask.user_id,
                        channel_id=ask.channel_id[:32],
                        response_url=self._box.encrypt_optional(
                            ask.response_url, purpose=self._purpose(ask.workspace_id)
                        ),
                        created_at=now,
                        requester_locale=(ask.locale or "")[:16] or None,
                        in_channel=ask.in_channel,
                    ),
                )
        except ConstraintViolation:
            return False  # one is already waiting or running for this workspace
        return True

    async def run_pending(self, limit: int = 5) -> int:
        """The worker's job: expire, claim and run waiting requests; how many ran."""
        await self._expire()
        ran = 0
        for request_id in await self._waiting(limit):
            if await self._claim(request_id):
                await self._run(request_id)
                ran += 1
        return ran

    async def _expire(self) -> None:
        """Requests nobody ran while their response_url was valid can no longer be answered."""
        async with self._database.write() as session:
            now = self._clock.now()
            await queries.expire_requests(session, now - RESPONSE_URL_LIFETIME, now, RequestOutcome.EXPIRED)

    async def _waiting(self, limit: int) -> list[int]:
        async with self._database.read() as session:
            return await queries.claimable_ids(session, self._clock.now(), STALE_CLAIM, limit)

    async def _claim(self, request_id: int) -> bool:
        async with self._database.write() as session:
            return await queries.claim(session, request_id, self._owner, self._clock.now(), STALE_CLAIM)

    async def _run(self, request_id: int) -> None:
        async with self._database.read() as session:
            row, team_id = await queries.request_with_team(session, request_id)
            connected = {
                s.provider
                for s in await reports.sources(session, row.workspace_id)
                if s.state != "disconnected"
            }
        providers = [row.provider] if row.provider else [p for p in registry.identifiers() if p in connected]
        results = tuple([await self._sync.run(row.workspace_id, Provider(p), "button") for p in providers])
        if any(r.outcome is RunOutcome.ALREADY_RUNNING for r in results) and not self._too_old(row):
            await self._later(request_id)
            return
        ok = all(r.outcome in OK_OUTCOMES for r in results)
        outcome = RequestOutcome.SUCCESS if ok else RequestOutcome.FAILED
        await self._follow_up(row, team_id, results)
        await self._finish(request_id, outcome)

    def _too_old(self, row: SyncRequest) -> bool:
        return self._clock.now() - row.created_at > RESPONSE_URL_LIFETIME - dt.timedelta(minutes=5)

    async def _later(self, request_id: int) -> None:
        """Another sync of the connection is running: look again shortly, so the figures include it."""
        async with self._database.write() as session:
            await queries.release(session, request_id, self._clock.now() + BUSY_RETRY)

    async def _follow_up(self, row: SyncRequest, team_id: str, results: tuple[SyncResult, ...]) -> None:
        finished = FinishedRequest(
            id=row.id,
            workspace_id=row.workspace_id,
            team_id=team_id,
            user_id=row.requested_by_user_id,
            channel_id=row.channel_id,
            response_url=self._box.decrypt_optional(
                row.response_url, purpose=self._purpose(row.workspace_id)
            ),
            locale=row.requester_locale,
            in_channel=row.in_channel,
            created_at=row.created_at,
            results=results,
        )
        for follow_up in self._follow_ups:
            try:
                await follow_up(finished)
            except Exception:  # the sync itself succeeded; a lost follow-up must not undo that
                log.exception("sync_request.follow_up_failed", extra={"request_id": row.id})

    async def _finish(self, request_id: int, outcome: RequestOutcome) -> None:
        async with self._database.write() as session:
            await queries.finish(session, request_id, self._clock.now(), outcome)

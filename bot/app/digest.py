"""Builds the digest and the worker's delivery path (outbox, sender, jobs, /cashbot digest)."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import aiohttp
from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler
from slack_sdk.oauth.installation_store.async_installation_store import AsyncInstallationStore
from slack_sdk.web.async_client import AsyncWebClient

from bot.app.worker import PeriodicJob
from bot.clock import Clock
from bot.config import Settings
from bot.delivery.clients import RotationApp, WorkspaceClients
from bot.delivery.metered import CountRateLimits, MeteredWebClient
from bot.delivery.sender import Sender
from bot.features.access.rights import AccessService
from bot.features.digest.chart import Charts
from bot.features.digest.compose import DigestComposer
from bot.features.digest.runner import DigestRunner
from bot.features.digest.settings import DigestSettingsStore
from bot.features.sync.runner import SyncService
from bot.features.workspaces import WorkspaceService
from bot.render import Renderer
from handlers.digest import DigestCommands, DigestStatus, DigestView
from handlers.listeners import Listeners
from storage.database import Database
from storage.outbox import Claimed, Outbox

if TYPE_CHECKING:  # bot.app.runtime holds the DigestParts built here
    from bot.app.runtime import Reports

TICK_SECONDS = 30
DRAIN_SECONDS = 2
OUTBOX_LEASE = dt.timedelta(minutes=5)
RATE_LIMIT_RETRIES = 3


@dataclass(frozen=True)
class DigestParts:
    """What the digest adds to a process (tests and the demo drive these directly)."""

    settings: DigestSettingsStore
    composer: DigestComposer
    view: DigestView
    runner: DigestRunner
    outbox: Outbox
    sender: Sender
    clients: WorkspaceClients
    jobs: tuple[PeriodicJob, ...]
    closers: tuple[Callable[[], Awaitable[None]], ...]


def delivery_client(
    settings: Settings, token: str | None, session: aiohttp.ClientSession | None = None
) -> AsyncWebClient:
    """A client for jobs: waits out 429s (Slack did not post), retries nothing else by itself.

    A timeout, a dropped connection or a 5xx may come after Slack posted, so the outbox decides
    what happens next (it looks the message up before sending again).
    """
    return MeteredWebClient(
        token=token,
        base_url=settings.slack_api_url,
        session=session,
        timeout=20,
        retry_handlers=[
            CountRateLimits(),
            AsyncRateLimitErrorRetryHandler(max_retry_count=RATE_LIMIT_RETRIES),
        ],
    )


@dataclass(frozen=True)
class DigestNeeds:
    """What the digest is built from: the parts of the runtime it uses."""

    settings: Settings
    clock: Clock
    database: Database
    renderer: Renderer
    reports: Reports
    sync: SyncService
    access: AccessService
    workspaces: WorkspaceService
    on: Listeners
    installations: AsyncInstallationStore | None


def build_digest(needs: DigestNeeds) -> DigestParts:
    """The digest's parts, its two worker jobs, its /cashbot subcommand and its status lines."""
    clock, database = needs.clock, needs.database
    store = DigestSettingsStore(database, clock)
    composer = DigestComposer(database, needs.reports.cash, needs.reports.receivables, clock)
    charts = Charts(processes=needs.settings.chart_processes)
    view = DigestView(needs.renderer, clock, charts)
    outbox = Outbox(database, clock, lease=OUTBOX_LEASE)
    clients = _clients(needs.settings, needs.installations)
    sender = Sender(outbox, clients, owner=f"sender:{uuid.uuid4().hex[:12]}")

    async def mark_broken(row: Claimed, error: str) -> None:
        if row.kind.startswith("digest"):
            await store.mark_broken(row.workspace_id, row.channel_id, error)

    async def sync(team_id: str) -> None:
        await needs.sync.run_all("digest", team_id=team_id)

    async def drain() -> None:
        await sender.drain()

    async def tick() -> None:
        await runner.tick()

    sender.on_broken(mark_broken)
    runner = DigestRunner(database, store, composer, view.envelopes, sync, clock)
    DigestCommands(
        workspaces=needs.workspaces,
        access=needs.access,
        gate=needs.reports.gate,
        settings=store,
        composer=composer,
        view=view,
        renderer=needs.renderer,
        clock=clock,
    ).register(needs.on)
    needs.on.status("Digest", DigestStatus(database, store).lines)
    return DigestParts(
        store,
        composer,
        view,
        runner,
        outbox,
        sender,
        clients,
        jobs=(
            PeriodicJob("digest_tick", TICK_SECONDS, tick, run_at_start=True),
            PeriodicJob("outbox", DRAIN_SECONDS, drain),
        ),
        closers=(sender.aclose, clients.aclose, charts.aclose),
    )


def _clients(settings: Settings, installations: AsyncInstallationStore | None) -> WorkspaceClients:
    rotation = None
    if installations is not None:
        rotation = RotationApp(settings.slack_client_id or "", settings.slack_client_secret or "")
    return WorkspaceClients(
        lambda token, session: delivery_client(settings, token, session),
        single_token=settings.slack_bot_token,
        store=installations,
        app=rotation,
    )

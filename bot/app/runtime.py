"""The Runtime: the typed container of every part a process holds, built once (no wiring logic here)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from slack_bolt.async_app import AsyncApp
from starlette.routing import BaseRoute

from bot.app.digest import DigestParts
from bot.app.worker import PeriodicJob
from bot.clock import Clock
from bot.config import Settings
from bot.features.access.gate import ViewGate
from bot.features.access.rights import AccessService
from bot.features.access.usage_watch import UsageWatch
from bot.features.alerts import AlertService
from bot.features.audit.group_commit import AuditBatcher
from bot.features.audit.trail import AuditTrail
from bot.features.cash.position import CashService
from bot.features.connect.links import ConnectLinks
from bot.features.events import EventReceipts
from bot.features.health import HealthService
from bot.features.receivables.overdue import ReceivablesService
from bot.features.report_cache import ReportCache
from bot.features.sync.requests import SyncRequests
from bot.features.sync.runner import SyncService
from bot.features.workspaces import WorkspaceService
from bot.providers.base import ProviderPlugin
from bot.providers.connections import ConnectionService
from bot.render import Renderer
from handlers import cashbot
from handlers.actor import ActorDirectory
from handlers.catalog import CommandCatalog
from handlers.listeners import Listeners
from handlers.notify import SlackNotifier
from handlers.views import FinancialViews
from storage.crypto import SecretBox
from storage.database import Database


@dataclass
class Reports:
    """What /cash and /overdue run on: the report cache, the services, the gate and the views."""

    cache: ReportCache
    cash: CashService
    receivables: ReceivablesService
    audit: AuditBatcher
    watch: UsageWatch
    gate: ViewGate
    sync_requests: SyncRequests
    views: FinancialViews


@dataclass(frozen=True)
class Core:
    """What every part is built on: the settings, the one clock, the database, secrets and templates."""

    settings: Settings
    clock: Clock
    database: Database
    box: SecretBox
    renderer: Renderer


@dataclass(frozen=True)
class Services:
    """The features and provider-neutral services the handlers and jobs call."""

    workspaces: WorkspaceService
    receipts: EventReceipts
    health: HealthService
    links: ConnectLinks
    connections: ConnectionService
    alerts: AlertService
    audit: AuditTrail
    access: AccessService
    sync: SyncService


@dataclass(frozen=True)
class SlackParts:
    """The Slack side: Bolt (None in the worker and CLI), the command catalog and router, the notifier."""

    app: AsyncApp | None
    catalog: CommandCatalog
    router: cashbot.CashbotRouter
    listeners: Listeners  # how every handler adds its listeners, subcommands and status lines
    notifier: SlackNotifier
    actors: ActorDirectory


@dataclass(frozen=True)
class InstalledProviders:
    """The installed providers' parts: plugins, web pages, and the HTTP clients to close."""

    # In registry order; a list so a test can add a fake one.
    plugins: list[ProviderPlugin]
    web_routes: tuple[BaseRoute, ...]
    closers: tuple[Callable[[], Awaitable[None]], ...]


@dataclass(frozen=True)
class Runtime:
    """Everything a running cashbot process holds, built once from Settings by bot.app.wiring."""

    core: Core
    services: Services
    slack: SlackParts
    providers: InstalledProviders
    reports: Reports
    jobs: tuple[PeriodicJob, ...]
    # The digest and the worker's delivery path, for tests and the demo to drive.
    digest: DigestParts
    # The alerts' parts (bot.app.incidents.IncidentParts), likewise.
    incidents: Any = None
    # The nightly ops jobs (bot.features.ops.nightly.NightlyJobs), likewise.
    ops: Any = None

    async def aclose(self) -> None:
        await self.reports.cache.aclose()
        for close in self.providers.closers:  # providers' HTTP clients
            await close()
        await self.core.database.dispose()

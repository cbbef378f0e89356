"""The Runtime a process holds, and what a provider contributes to it (no wiring logic here)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from slack_bolt.async_app import AsyncApp
from starlette.routing import BaseRoute

from bot.clock import Clock
from bot.config import Settings
from bot.render import Renderer
from bot.scheduler import PeriodicJob
from bot.services.access import AccessService
from bot.services.alerts import AlertService
from bot.services.audit import AuditTrail
from bot.services.audit_batch import AuditBatcher
from bot.services.balances import CashService
from bot.services.cache import ReportCache
from bot.services.connect_links import ConnectLinks
from bot.services.connections import ConnectionService
from bot.services.events import EventReceipts
from bot.services.health import HealthService
from bot.services.plugins import ProviderPlugin
from bot.services.receivables import ReceivablesService
from bot.services.sync import Syncer, SyncService
from bot.services.sync_requests import SyncRequests
from bot.services.usage_watch import UsageWatch
from bot.services.viewing import ViewGate
from bot.services.workspaces import WorkspaceService
from handlers import cashbot
from handlers.actor import ActorDirectory
from handlers.catalog import CommandCatalog
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


@dataclass
class Runtime:
    """Everything a running cashbot process holds, built once from Settings."""

    settings: Settings
    clock: Clock
    database: Database
    box: SecretBox
    renderer: Renderer
    slack: AsyncApp | None
    catalog: CommandCatalog
    router: cashbot.CashbotRouter
    workspaces: WorkspaceService
    receipts: EventReceipts
    health: HealthService
    links: ConnectLinks
    connections: ConnectionService
    alerts: AlertService
    audit: AuditTrail
    access: AccessService
    sync: SyncService
    notifier: SlackNotifier
    actors: ActorDirectory
    reports: Reports
    plugins: list[ProviderPlugin] = field(default_factory=list)
    web_routes: list[BaseRoute] = field(default_factory=list)
    jobs: list[PeriodicJob] = field(default_factory=list)
    closers: list[Callable[[], Awaitable[None]]] = field(default_factory=list)
    # The digest's parts (bot.digest_wiring.DigestParts), for tests and the demo to drive.
    digest: Any = None
    # The alerts' parts (bot.incidents_wiring.IncidentParts), likewise.
    incidents: Any = None

    async def aclose(self) -> None:
        await self.reports.cache.aclose()
        for close in self.closers:  # providers' HTTP clients
            await close()
        await self.database.dispose()


@dataclass(frozen=True)
class ProviderParts:
    """What a provider contributes: its plugin, its syncer, its web routes."""

    plugin: ProviderPlugin
    syncer: Syncer
    routes: list[BaseRoute]


ProviderBuilder = Callable[[Runtime], ProviderParts]

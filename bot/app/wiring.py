"""The one composition root: builds the Runtime (services, installed providers, Bolt app, jobs) once."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import logging
from collections.abc import Mapping
from importlib import import_module
from pathlib import Path
from typing import Any, cast

from slack_bolt.async_app import AsyncApp
from slack_bolt.authorization.async_authorize import AsyncInstallationStoreAuthorize
from slack_bolt.oauth.async_oauth_settings import AsyncOAuthSettings
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
)
from slack_sdk.oauth.token_rotation.async_rotator import AsyncTokenRotator
from slack_sdk.web.async_client import AsyncWebClient
from starlette.routing import BaseRoute

from bot.app.digest import DigestNeeds, build_digest
from bot.app.incidents import build_home, build_incidents
from bot.app.runtime import Core, InstalledProviders, Reports, Runtime, Services, SlackParts
from bot.app.worker import PeriodicJob
from bot.clock import Clock, SystemClock
from bot.config import Settings
from bot.delivery.metered import CountRateLimits, MeteredWebClient
from bot.domain import Provider
from bot.features.access.gate import ViewGate
from bot.features.access.rights import AccessService
from bot.features.access.usage_watch import UsageWatch
from bot.features.alerts import AlertService
from bot.features.audit.group_commit import AuditBatcher
from bot.features.audit.trail import AuditTrail
from bot.features.backups import BackupService
from bot.features.cash.position import CashService
from bot.features.connect.links import ConnectLinks
from bot.features.events import EventReceipts
from bot.features.freshness import WorkspaceCalendar
from bot.features.health import DiskFree, HealthService
from bot.features.health import disk_free as health_disk_free
from bot.features.housekeeping import Housekeeping
from bot.features.ops.nightly import NightlyJobs, NightlyPlan
from bot.features.ops.report import OpsReporter
from bot.features.ops.retention import RetentionPurge
from bot.features.receivables.overdue import ReceivablesService
from bot.features.report_cache import build_cache
from bot.features.sync.requests import SyncRequests
from bot.features.sync.runner import SyncResult, SyncService
from bot.features.workspaces import WorkspaceService
from bot.providers import registry
from bot.providers.base import CallBudget, Platform, ProviderPackage, ProviderParts
from bot.providers.connections import ConnectionService
from bot.render import Renderer
from handlers import cashbot, connect, errors, lifecycle, request_context, sync_confirm
from handlers.access import AccessCommands
from handlers.actor import ActorDirectory
from handlers.cash import CashCommand, ConnectButtons
from handlers.catalog import CommandCatalog
from handlers.listeners import Listeners
from handlers.notify import SlackNotifier
from handlers.overdue import OverdueCommand
from handlers.sync_button import SyncButton, SyncFollowUp
from handlers.views import FinancialViews
from handlers.web_pages import PageKit
from storage.crypto import SecretBox
from storage.database import Database
from storage.slack_stores import DatabaseOAuthStateStore, EncryptedInstallationStore

log = logging.getLogger(__name__)

# The least the bot needs: answer slash commands, post digests and alerts (and the digest's chart),
# read a member's admin flag and locale. The history and files:read scopes serve one purpose: after
# a crash or a timeout, look up whether a message or chart already reached its channel before
# sending it again (never to read anyone's messages). Uninstall and revocation events need none.
BOT_SCOPES = (
    "commands",
    "chat:write",
    "users:read",
    "files:write",
    "files:read",
    "channels:history",
    "groups:history",
)
SLACK_INSTALL_PATH = "/slack/install"
UNINSTALL_REVOKE_SECONDS = 1.5
SLACK_REDIRECT_PATH = "/slack/oauth_redirect"
OPS_TICK_SECONDS = 300


def slack_client(settings: Settings, token: str | None = None, *, timeout: int = 10) -> AsyncWebClient:
    """A Web API client for SLACK_API_URL that retries connection errors and obeys 429s."""
    return MeteredWebClient(
        token=token,
        base_url=settings.slack_api_url,
        timeout=timeout,
        retry_handlers=[
            CountRateLimits(),
            AsyncConnectionErrorRetryHandler(),
            AsyncRateLimitErrorRetryHandler(max_retry_count=2),
        ],
    )


def installation_store(
    settings: Settings, database: Database, box: SecretBox
) -> EncryptedInstallationStore | None:
    """Where bot tokens live in multi-workspace mode (None with a single SLACK_BOT_TOKEN)."""
    if settings.slack_mode != "multi":
        return None
    return EncryptedInstallationStore(database, box, settings.slack_client_id or "", settings.timezone)


def build_slack_app(
    settings: Settings, database: Database, store: EncryptedInstallationStore | None
) -> AsyncApp:
    """Bolt in HTTP mode: single-workspace with SLACK_BOT_TOKEN, or OAuth installs otherwise."""
    if store is None:
        return _bolt_app(settings, client=slack_client(settings, settings.slack_bot_token))
    client_id = settings.slack_client_id or ""
    oauth = AsyncOAuthSettings(
        client_id=client_id,
        client_secret=settings.slack_client_secret,
        scopes=list(BOT_SCOPES),
        installation_store=store,
        state_store=DatabaseOAuthStateStore(database),
        redirect_uri=settings.url_for(SLACK_REDIRECT_PATH),
        install_path=SLACK_INSTALL_PATH,
        redirect_uri_path=SLACK_REDIRECT_PATH,
        authorization_url=settings.slack_authorize_url,
        install_page_rendering_enabled=False,
    )
    # Bolt's token rotator would call slack.com directly; point it at SLACK_API_URL too.
    authorize = cast(AsyncInstallationStoreAuthorize, oauth.authorize)
    authorize.token_rotator = AsyncTokenRotator(
        client_id=client_id,
        client_secret=settings.slack_client_secret or "",
        client=slack_client(settings),
    )
    return _bolt_app(settings, client=slack_client(settings), installation_store=store, oauth_settings=oauth)


class _NoTokenSkippedWarning(logging.Filter):
    """Bolt reads SLACK_BOT_TOKEN from the environment by itself and, seeing our client (which
    carries that same token, for SLACK_API_URL), warns on every start that the token is unused."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "will be unused" not in record.getMessage()


def _bolt_app(settings: Settings, **mode: Any) -> AsyncApp:
    bolt_logger = logging.getLogger(f"slack_bolt.{AsyncApp.__name__}")
    quiet = _NoTokenSkippedWarning()
    bolt_logger.addFilter(quiet)
    try:
        return _new_bolt_app(settings, **mode)
    finally:
        bolt_logger.removeFilter(quiet)


def _new_bolt_app(settings: Settings, **mode: Any) -> AsyncApp:
    return AsyncApp(
        signing_secret=settings.slack_signing_secret or "",
        # Requests are verified by handlers.slack_http before Bolt sees them (Bolt would log the
        # body of a bad one); verifying twice would only cost time.
        request_verification_enabled=False,
        ssl_check_enabled=True,
        # An event's effect (an uninstall purge, say) is committed before Slack gets its 200, so
        # a crash makes Slack retry instead of losing the event. Listeners never call Ponto or
        # Yuki inline, so they finish far inside Slack's 3 seconds.
        process_before_response=True,
        **mode,
    )


def build_runtime(
    settings: Settings, *, web: bool = True, clock: Clock | None = None, disk_free: DiskFree | None = None
) -> Runtime:
    """Assemble a process; nothing here touches the network or the database yet.

    `web=False` (worker, CLI) builds no Bolt app, so Slack request settings are not needed.
    `clock` is the one clock every part is given: the machine's, unless a test or the demo
    brings its own. `disk_free` likewise stands in for the machine's free-disk probe.
    """
    settings.require_secrets()
    core = build_core(settings, clock or SystemClock())
    services = build_services(core, disk_free)
    store = installation_store(settings, core.database, core.box)
    slack = build_slack_parts(core, store, web)
    s = services
    providers = build_providers(settings, _platform(core, services), s.sync)
    budgets = {package.provider.value: parts.budget for package, parts in providers if parts.budget}
    reports = build_reports(core, services, budgets)
    needs = (settings, core.clock, core.database, core.renderer, reports, s.sync, s.access, s.workspaces)
    digest = build_digest(DigestNeeds(*needs, slack.listeners, store))
    runtime = Runtime(
        core=core,
        services=services,
        slack=slack,
        providers=InstalledProviders(
            plugins=[parts.plugin for _, parts in providers],
            web_routes=provider_pages(
                providers, settings, core.renderer, slack.notifier, s.workspaces, s.sync
            ),
            closers=tuple(close for _, parts in providers for close in parts.closers) + digest.closers,
        ),
        reports=reports,
        jobs=periodic_jobs(settings, core.database, s.receipts, reports, s.sync) + digest.jobs,
        digest=digest,
    )
    if slack.app is not None:
        # Before the alerts' and the Home tab's: Bolt tries listeners in the order they were added,
        # building every listener's arguments on the way (issue 17), so /cash and /overdue go first.
        _register_listeners(runtime)
    incidents = build_incidents(runtime, digest)
    build_home(runtime, digest)
    nightly = build_nightly(runtime)
    ops_job = PeriodicJob("ops_nightly", OPS_TICK_SECONDS, nightly.tick, run_at_start=True)
    runtime = dataclasses.replace(
        runtime, incidents=incidents, ops=nightly, jobs=runtime.jobs + incidents.jobs + (ops_job,)
    )
    _forget_on_uninstall(runtime)
    return runtime


def build_nightly(runtime: Runtime) -> NightlyJobs:
    """The nightly backup, weekly drill and daily audit verify, reported to CASHBOT_OPS_CHANNEL."""
    settings = runtime.core.settings
    backups = BackupService(
        runtime.core.database, runtime.core.box, settings.audit_key or "", clock=runtime.core.clock
    )
    reporter = OpsReporter(
        runtime.core.database, settings.ops_channel, settings.timezone, clock=runtime.core.clock
    )
    plan = NightlyPlan(
        folder=Path(settings.backup_dir),
        timezone=settings.timezone,
        hour=settings.nightly_hour,
        keep_daily=settings.backup_keep_daily,
        keep_weekly=settings.backup_keep_weekly,
    )
    retention = RetentionPurge(
        runtime.core.database, settings.retention_months, settings.timezone, clock=runtime.core.clock
    )
    return NightlyJobs(
        runtime.core.database,
        backups,
        runtime.services.audit,
        reporter,
        plan,
        clock=runtime.core.clock,
        retention=retention,
    )


def _platform(core: Core, s: Services) -> Platform:
    """What a provider package is built on."""
    return Platform(
        core.database,
        core.box,
        core.clock,
        s.connections,
        s.alerts,
        s.audit,
        s.links,
        core.settings.url_for,
        core.settings.timezone,
    )


def build_core(settings: Settings, clock: Clock) -> Core:
    database = Database(settings.database_url, clock=clock)
    return Core(settings, clock, database, SecretBox(settings.encryption_keys), Renderer())


def build_services(core: Core, disk_free: DiskFree | None = None) -> Services:
    """The provider-neutral services, each built once on the core."""
    database, clock, box = core.database, core.clock, core.box
    connections = ConnectionService(database, box, clock=clock)
    alerts = AlertService(database, clock=clock)
    return Services(
        workspaces=WorkspaceService(database, core.settings.timezone),
        receipts=EventReceipts(database, clock=clock),
        health=HealthService(
            database,
            core.settings.min_free_disk_mb,
            folders=(Path(core.settings.backup_dir),),
            free=disk_free or health_disk_free,
        ),
        links=ConnectLinks(database, box, clock=clock),
        connections=connections,
        alerts=alerts,
        audit=AuditTrail(database, core.settings.audit_key or "", clock=clock),
        access=AccessService(database, clock=clock),
        sync=SyncService(database, connections, alerts, clock=clock),
    )


def build_slack_parts(core: Core, store: EncryptedInstallationStore | None, web: bool) -> SlackParts:
    """Bolt (only for a web process), the command catalog and router, and the notifier."""
    settings = core.settings
    slack = build_slack_app(settings, core.database, store) if web else None
    catalog = CommandCatalog()
    router = cashbot.CashbotRouter(catalog, core.renderer)
    notifier = SlackNotifier(
        lambda token: slack_client(settings, token), single_token=settings.slack_bot_token, store=store
    )
    return SlackParts(slack, catalog, router, Listeners(slack, catalog, router), notifier, ActorDirectory())


Built = list[tuple[ProviderPackage, ProviderParts[Any]]]


def build_providers(settings: Settings, platform: Platform, sync: SyncService) -> Built:
    """Every installed provider's parts, in registry order; their syncers join the sync runner."""
    built = [(package, package.build(settings, platform)) for package in registry.INSTALLED]
    for _, parts in built:
        sync.register(parts.syncer)
    return built


def provider_pages(
    providers: Built,
    settings: Settings,
    renderer: Renderer,
    notifier: SlackNotifier,
    workspaces: WorkspaceService,
    sync: SyncService,
) -> tuple[BaseRoute, ...]:
    """Each provider's web pages, from the handlers module its registry entry names."""
    routes: list[BaseRoute] = []
    for package, parts in providers:

        async def first_sync(workspace_id: int, provider: Provider = package.provider) -> object:
            return await sync.run(workspace_id, provider, "connect")

        kit = PageKit(
            renderer,
            notifier,
            secure=settings.public_url.startswith("https://"),
            sync_interval_minutes=settings.sync_interval_minutes,
            workspace_id=workspaces.workspace_id,
            first_sync=first_sync,
        )
        routes += import_module(package.pages).pages(parts, kit)
    return tuple(routes)


def build_reports(core: Core, services: Services, budgets: Mapping[str, CallBudget]) -> Reports:
    """The /cash and /overdue read side, its cache (Redis when REDIS_URL is set) and Sync now."""
    settings, clock, database, box, renderer = (
        core.settings,
        core.clock,
        core.database,
        core.box,
        core.renderer,
    )
    access, alerts, audit, sync = services.access, services.alerts, services.audit, services.sync
    cache = build_cache(
        settings.redis_url, settings.database_url, clock, ttl=float(settings.report_cache_seconds)
    )
    calendar = WorkspaceCalendar(database, settings.timezone)
    stale_after = dt.timedelta(minutes=3 * settings.sync_interval_minutes)
    batcher = AuditBatcher(audit)
    watch = UsageWatch(cache, alerts, clock=clock)
    views = FinancialViews(renderer, clock)
    cash = CashService(database, cache, calendar, stale_after=stale_after, clock=clock)
    requests = SyncRequests(database, box, sync, budgets=budgets, clock=clock)

    async def invalidate(result: SyncResult) -> None:
        await cache.invalidate(str(result.workspace_id))

    sync.on_finished(invalidate)
    requests.on_finished(SyncFollowUp(cash=cash, views=views, audit=batcher, clock=clock).deliver)
    return Reports(
        cache=cache,
        cash=cash,
        receivables=ReceivablesService(database, cache, calendar, stale_after=stale_after, clock=clock),
        audit=batcher,
        watch=watch,
        gate=ViewGate(access, batcher, watch),
        sync_requests=requests,
        views=views,
    )


def _forget_on_uninstall(runtime: Runtime) -> None:
    """An uninstalled workspace leaves nothing behind in this process's caches either."""

    async def revoke(workspace_id: int) -> None:
        # Revoke every grant at its provider (Ponto's refresh token) before the purge deletes it.
        # Bounded: Slack waits 3 s for this event; a grant that could not be revoked is logged.
        for plugin in runtime.providers.plugins:
            try:
                async with asyncio.timeout(UNINSTALL_REVOKE_SECONDS):
                    await plugin.disconnect(workspace_id)
            except Exception as error:  # the purge must happen whatever a provider does
                log.warning(
                    "uninstall.revoke_failed",
                    extra={
                        "provider": plugin.provider.value,
                        "workspace_id": workspace_id,
                        "error": type(error).__name__,
                    },
                )

    async def forget(workspace_id: int, team_id: str) -> None:
        await runtime.reports.cache.invalidate(str(workspace_id))
        runtime.services.access.forget(workspace_id)
        runtime.slack.actors.forget(team_id)

    runtime.services.workspaces.on_uninstalling(revoke)
    runtime.services.workspaces.on_uninstalled(forget)


def periodic_jobs(
    settings: Settings, database: Database, receipts: EventReceipts, reports: Reports, sync: SyncService
) -> tuple[PeriodicJob, ...]:
    """What the worker's leader runs on a timer."""

    async def prune_expired() -> None:
        await Housekeeping(database, clock=database.clock).prune()

    async def run_sync_requests() -> None:
        await reports.sync_requests.run_pending()

    async def sync_all() -> None:
        await sync.run_all("schedule")

    interval = settings.sync_interval_minutes * 60
    return (
        PeriodicJob("prune_event_receipts", 6 * 3600, receipts.prune),
        PeriodicJob("prune_expired_links", 3600, prune_expired),
        PeriodicJob("sync_requests", 5, run_sync_requests),
        # At start too: the first digest after a restart is built on fresh data.
        PeriodicJob("sync_all", interval, sync_all, misfire_grace_seconds=interval // 2, run_at_start=True),
    )


def _register_listeners(runtime: Runtime) -> None:
    on, core, s = runtime.slack.listeners, runtime.core, runtime.services
    errors.register(on, core.renderer)
    request_context.register(on, s.workspaces, s.receipts, runtime.slack.actors)
    # Bolt tries listeners in the order they were added: the busiest commands go first.
    _register_reports(runtime, on)
    lifecycle.register(on, s.workspaces, s.receipts)
    connect.ConnectCommands(
        plugins=runtime.providers.plugins,
        links=s.links,
        connections=s.connections,
        access=s.access,
        audit=s.audit,
        workspaces=s.workspaces,
        renderer=core.renderer,
        link_url=lambda provider, token: core.settings.url_for(f"/connect/{provider.value}?t={token}"),
        next_sync=lambda last: (
            None if last is None else last + dt.timedelta(minutes=core.settings.sync_interval_minutes)
        ),
        clock=core.clock,
    ).register(on)
    sync_confirm.SyncConfirmCommand(
        plugins=runtime.providers.plugins,
        connections=s.connections,
        requests=runtime.reports.sync_requests,
        audit=s.audit,
        workspaces=s.workspaces,
        renderer=core.renderer,
    ).register(on)
    cashbot.register(on)


def _register_reports(runtime: Runtime, on: Listeners) -> None:
    reports, core, s = runtime.reports, runtime.core, runtime.services
    CashCommand(workspaces=s.workspaces, gate=reports.gate, cash=reports.cash, views=reports.views).register(
        on
    )
    OverdueCommand(
        workspaces=s.workspaces,
        gate=reports.gate,
        receivables=reports.receivables,
        views=reports.views,
    ).register(on)
    SyncButton(
        workspaces=s.workspaces,
        gate=reports.gate,
        requests=reports.sync_requests,
        renderer=core.renderer,
        audit=reports.audit,
    ).register(on)
    ConnectButtons(runtime.slack.router, core.renderer).register(on)
    AccessCommands(
        access=s.access,
        audit=reports.audit,
        workspaces=s.workspaces,
        renderer=core.renderer,
    ).register(on)

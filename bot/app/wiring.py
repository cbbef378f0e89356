"""Builds the runtime: database, secrets, services, the Bolt app and its listeners."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
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

from bot.app.runtime import ProviderBuilder, Reports, Runtime
from bot.app.worker import PeriodicJob
from bot.clock import Clock, SystemClock
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
from bot.features.freshness import WorkspaceCalendar
from bot.features.health import HealthService
from bot.features.housekeeping import Housekeeping
from bot.features.receivables.overdue import ReceivablesService
from bot.features.report_cache import build_cache
from bot.features.sync.requests import SyncNowRules, SyncRequests
from bot.features.sync.runner import SyncResult, SyncService
from bot.features.workspaces import WorkspaceService
from bot.providers.connections import ConnectionService
from bot.providers.ponto.wiring import build_ponto
from bot.providers.yuki.call_budget import DailyCallBudget
from bot.providers.yuki.wiring import build_yuki
from bot.render import Renderer
from handlers import cashbot, connect, errors, lifecycle, request_context
from handlers.access import AccessCommands
from handlers.actor import ActorDirectory
from handlers.cash import CashCommand, ConnectButtons
from handlers.catalog import CommandCatalog
from handlers.notify import SlackNotifier
from handlers.overdue import OverdueCommand
from handlers.sync_button import SyncButton, SyncFollowUp
from handlers.views import FinancialViews
from storage.crypto import SecretBox
from storage.database import Database
from storage.slack_stores import DatabaseOAuthStateStore, EncryptedInstallationStore

log = logging.getLogger(__name__)

# The least the bot needs: answer slash commands, post digests and alerts, read a member's
# admin flag and locale. Uninstall and revocation events need no scope.
BOT_SCOPES = ("commands", "chat:write", "users:read")
SLACK_INSTALL_PATH = "/slack/install"
UNINSTALL_REVOKE_SECONDS = 1.5
SLACK_REDIRECT_PATH = "/slack/oauth_redirect"


def provider_builders() -> list[ProviderBuilder]:
    """Each provider's builder, in the order they appear in /cashbot status."""
    return [build_ponto, build_yuki]


def slack_client(settings: Settings, token: str | None = None, *, timeout: int = 10) -> AsyncWebClient:
    """A Web API client for SLACK_API_URL that retries connection errors and obeys 429s."""
    return AsyncWebClient(
        token=token,
        base_url=settings.slack_api_url,
        timeout=timeout,
        retry_handlers=[
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
        return _bolt_app(
            settings, client=slack_client(settings, settings.slack_bot_token), token=settings.slack_bot_token
        )
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


def _bolt_app(settings: Settings, **mode: Any) -> AsyncApp:
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


def build_runtime(settings: Settings, *, web: bool = True, clock: Clock | None = None) -> Runtime:
    """Assemble a process; nothing here touches the network or the database yet.

    `web=False` (worker, CLI) builds no Bolt app, so Slack request settings are not needed.
    `clock` is the one clock every part is given: the machine's, unless a test or the demo
    brings its own.
    """
    settings.require_secrets()
    clock = clock or SystemClock()
    database = Database(settings.database_url, clock=clock)
    box = SecretBox(settings.encryption_keys)
    renderer = Renderer()
    store = installation_store(settings, database, box)
    slack = build_slack_app(settings, database, store) if web else None
    catalog = CommandCatalog()
    connections = ConnectionService(database, box, clock=clock)
    alerts = AlertService(database, clock=clock)
    audit = AuditTrail(database, settings.audit_key or "", clock=clock)
    access = AccessService(database, clock=clock)
    sync = SyncService(database, connections, alerts, clock=clock)
    runtime = Runtime(
        settings=settings,
        clock=clock,
        database=database,
        box=box,
        renderer=renderer,
        slack=slack,
        catalog=catalog,
        router=cashbot.CashbotRouter(catalog, renderer),
        workspaces=WorkspaceService(database, settings.timezone),
        receipts=EventReceipts(database, clock=clock),
        health=HealthService(database, settings.min_free_disk_mb),
        links=ConnectLinks(database, box, clock=clock),
        connections=connections,
        alerts=alerts,
        audit=audit,
        access=access,
        sync=sync,
        notifier=SlackNotifier(
            lambda token: slack_client(settings, token), single_token=settings.slack_bot_token, store=store
        ),
        actors=ActorDirectory(),
        reports=build_reports(settings, clock, database, box, renderer, access, alerts, audit, sync),
    )
    for build in provider_builders():
        parts = build(runtime)
        runtime.plugins.append(parts.plugin)
        runtime.sync.register(parts.syncer)
        runtime.web_routes.extend(parts.routes)
    _register_jobs(runtime)
    _forget_on_uninstall(runtime)
    if slack is not None:
        _register_listeners(runtime, slack)
    return runtime


def build_reports(
    settings: Settings,
    clock: Clock,
    database: Database,
    box: SecretBox,
    renderer: Renderer,
    access: AccessService,
    alerts: AlertService,
    audit: AuditTrail,
    sync: SyncService,
) -> Reports:
    """The /cash and /overdue read side, its cache (Redis when REDIS_URL is set) and Sync now."""
    cache = build_cache(settings.redis_url, settings.database_url, clock)
    calendar = WorkspaceCalendar(database, settings.timezone)
    stale_after = dt.timedelta(minutes=3 * settings.sync_interval_minutes)
    batcher = AuditBatcher(audit)
    watch = UsageWatch(cache, alerts, clock=clock)
    views = FinancialViews(renderer, clock)
    cash = CashService(database, cache, calendar, stale_after=stale_after, clock=clock)
    yuki_budget = DailyCallBudget(database, settings.yuki_daily_call_budget, clock=clock)
    requests = SyncRequests(
        database,
        box,
        sync,
        yuki_calls_left=yuki_budget.remaining,
        rules=SyncNowRules(yuki_daily_budget=settings.yuki_daily_call_budget),
        clock=clock,
    )

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
        for plugin in runtime.plugins:
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
        runtime.access.forget(workspace_id)
        runtime.actors.forget(team_id)

    runtime.workspaces.on_uninstalling(revoke)
    runtime.workspaces.on_uninstalled(forget)


def _register_jobs(runtime: Runtime) -> None:
    runtime.jobs.append(PeriodicJob("prune_event_receipts", 6 * 3600, runtime.receipts.prune))

    async def prune_expired() -> None:
        await Housekeeping(runtime.database, clock=runtime.clock).prune()

    runtime.jobs.append(PeriodicJob("prune_expired_links", 3600, prune_expired))

    async def run_sync_requests() -> None:
        await runtime.reports.sync_requests.run_pending()

    runtime.jobs.append(PeriodicJob("sync_requests", 5, run_sync_requests))

    async def sync_all() -> None:
        await runtime.sync.run_all("schedule")

    interval = runtime.settings.sync_interval_minutes * 60
    runtime.jobs.append(PeriodicJob("sync_all", interval, sync_all, misfire_grace_seconds=interval // 2))


def _register_listeners(runtime: Runtime, slack: AsyncApp) -> None:
    errors.register(slack, runtime.renderer)
    request_context.register(slack, runtime.workspaces, runtime.receipts, runtime.actors)
    # Bolt tries listeners in the order they were added: the busiest commands go first.
    _register_reports(runtime, slack)
    lifecycle.register(slack, runtime.workspaces, runtime.receipts)
    connect.ConnectCommands(
        plugins=runtime.plugins,
        links=runtime.links,
        connections=runtime.connections,
        access=runtime.access,
        audit=runtime.audit,
        workspaces=runtime.workspaces,
        renderer=runtime.renderer,
        link_url=lambda provider, token: runtime.settings.url_for(f"/connect/{provider.value}?t={token}"),
        next_sync=lambda last: (
            None if last is None else last + dt.timedelta(minutes=runtime.settings.sync_interval_minutes)
        ),
        clock=runtime.clock,
    ).register(runtime.router)
    cashbot.register(slack, runtime.router)


def _register_reports(runtime: Runtime, slack: AsyncApp) -> None:
    reports = runtime.reports
    CashCommand(
        workspaces=runtime.workspaces, gate=reports.gate, cash=reports.cash, views=reports.views
    ).register(slack, runtime.catalog)
    OverdueCommand(
        workspaces=runtime.workspaces, gate=reports.gate, receivables=reports.receivables, views=reports.views
    ).register(slack, runtime.catalog)
    SyncButton(
        workspaces=runtime.workspaces,
        gate=reports.gate,
        requests=reports.sync_requests,
        renderer=runtime.renderer,
        audit=reports.audit,
    ).register(slack)
    ConnectButtons(runtime.router, runtime.renderer).register(slack)
    AccessCommands(
        access=runtime.access, audit=reports.audit, workspaces=runtime.workspaces, renderer=runtime.renderer
    ).register(runtime.router)

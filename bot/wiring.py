"""Builds the runtime: database, secrets, services, the Bolt app and its listeners."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
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

from bot.config import Settings
from bot.render import Renderer
from bot.scheduler import PeriodicJob
from bot.services.events import EventReceipts
from bot.services.health import HealthService
from bot.services.workspaces import WorkspaceService
from handlers import cashbot, errors, lifecycle
from handlers.catalog import CommandCatalog
from storage.crypto import SecretBox
from storage.database import Database
from storage.slack_stores import DatabaseOAuthStateStore, EncryptedInstallationStore

log = logging.getLogger(__name__)

# The least the bot needs: answer slash commands, post digests and alerts, read a member's
# admin flag and locale. Uninstall and revocation events need no scope.
BOT_SCOPES = ("commands", "chat:write", "users:read")
SLACK_INSTALL_PATH = "/slack/install"
SLACK_REDIRECT_PATH = "/slack/oauth_redirect"


@dataclass
class Runtime:
    """Everything a running cashbot process holds, built once from Settings."""

    settings: Settings
    database: Database
    box: SecretBox
    renderer: Renderer
    slack: AsyncApp
    catalog: CommandCatalog
    router: cashbot.CashbotRouter
    workspaces: WorkspaceService
    receipts: EventReceipts
    health: HealthService
    web_routes: list[BaseRoute] = field(default_factory=list)
    jobs: list[PeriodicJob] = field(default_factory=list)

    async def aclose(self) -> None:
        await self.database.dispose()


def slack_client(settings: Settings, token: str | None = None) -> AsyncWebClient:
    """A Web API client for SLACK_API_URL that retries connection errors and obeys 429s."""
    return AsyncWebClient(
        token=token,
        base_url=settings.slack_api_url,
        timeout=10,
        retry_handlers=[
            AsyncConnectionErrorRetryHandler(),
            AsyncRateLimitErrorRetryHandler(max_retry_count=2),
        ],
    )


def build_slack_app(settings: Settings, database: Database, box: SecretBox) -> AsyncApp:
    """Bolt in HTTP mode: single-workspace with SLACK_BOT_TOKEN, or OAuth installs otherwise."""
    if settings.slack_mode != "multi":
        return _bolt_app(
            settings, client=slack_client(settings, settings.slack_bot_token), token=settings.slack_bot_token
        )
    client_id = settings.slack_client_id or ""
    store = EncryptedInstallationStore(database, box, client_id, settings.timezone)
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


def build_runtime(settings: Settings) -> Runtime:
    """Assemble a process; nothing here touches the network or the database yet."""
    settings.require_secrets()
    database = Database(settings.database_url)
    box = SecretBox(settings.encryption_keys)
    renderer = Renderer()
    slack = build_slack_app(settings, database, box)
    catalog = CommandCatalog()
    router = cashbot.CashbotRouter(catalog, renderer)
    workspaces = WorkspaceService(database, settings.timezone)
    receipts = EventReceipts(database)
    runtime = Runtime(
        settings=settings,
        database=database,
        box=box,
        renderer=renderer,
        slack=slack,
        catalog=catalog,
        router=router,
        workspaces=workspaces,
        receipts=receipts,
        health=HealthService(database, settings.min_free_disk_mb),
    )
    runtime.jobs.append(PeriodicJob("prune_event_receipts", 6 * 3600, receipts.prune))
    errors.register(slack, renderer)
    lifecycle.register(slack, workspaces, receipts)
    cashbot.register(slack, router)
    return runtime

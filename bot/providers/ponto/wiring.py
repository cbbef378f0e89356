"""Builds Ponto's parts (plugin, syncer, web routes) from the settings: part of the composition root."""

from __future__ import annotations

from bot.app.runtime import ProviderParts, Runtime
from bot.domain import Provider
from bot.providers.ponto.consent import PontoConsent
from bot.providers.ponto.plugin import CALLBACK_PATH, PontoConfig, PontoGateway, PontoPlugin, PontoTokens
from bot.providers.ponto.sync import PontoSyncer, SyncOptions
from handlers.ponto import PontoWeb


def build_ponto(runtime: Runtime) -> ProviderParts:
    settings = runtime.settings
    config = PontoConfig(
        client_id=settings.ponto_client_id,
        client_secret=settings.ponto_client_secret,
        api_url=settings.ponto_api_url,
        authorization_url=settings.ponto_authorization_url,
        redirect_uri=settings.url_for(CALLBACK_PATH),
        scopes=settings.ponto_scopes,
        client_cert=settings.ponto_client_cert,
        client_key=settings.ponto_client_key,
        request_sync=settings.ponto_request_sync,
        unknown_attributes=settings.ponto_unknown_attributes,
    )
    gateway = PontoGateway(config, clock=runtime.clock)
    runtime.closers.append(gateway.aclose)
    tokens = PontoTokens(gateway, runtime.connections, runtime.alerts, clock=runtime.clock)
    plugin = PontoPlugin(config, gateway, runtime.connections, runtime.database, clock=runtime.clock)
    syncer = PontoSyncer(
        runtime.database,
        tokens.client,
        runtime.connections,
        runtime.alerts,
        SyncOptions(request_sync=config.request_sync, timezone=settings.timezone),
        clock=runtime.clock,
    )
    consent = PontoConsent(
        config,
        gateway,
        database=runtime.database,
        box=runtime.box,
        links=runtime.links,
        connections=runtime.connections,
        alerts=runtime.alerts,
        audit=runtime.audit,
        clock=runtime.clock,
    )

    async def first_sync(team_id: str) -> None:
        workspace_id = await runtime.workspaces.workspace_id(team_id)
        await runtime.sync.run(workspace_id, Provider.PONTO, "connect")

    web = PontoWeb(
        consent,
        plugin,
        runtime.renderer,
        runtime.notifier,
        secure_cookie=settings.public_url.startswith("https://"),
        after_connect=first_sync,
    )
    return ProviderParts(plugin, syncer, web.routes())

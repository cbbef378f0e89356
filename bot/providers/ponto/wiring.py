"""Builds Ponto's parts (plugin, syncer, consent) from its settings, and its registry entry."""

from __future__ import annotations

from dataclasses import dataclass

from bot.domain import Provider
from bot.providers.base import Platform, ProviderPackage, ProviderParts
from bot.providers.ponto.consent import PontoConsent
from bot.providers.ponto.plugin import CALLBACK_PATH, PontoConfig, PontoGateway, PontoPlugin, PontoTokens
from bot.providers.ponto.settings import PontoSettings
from bot.providers.ponto.sync import PontoSyncer, SyncOptions


@dataclass(frozen=True)
class PontoConnect:
    """What Ponto's web pages drive: the consent flow, and the plugin that says if it is configured."""

    consent: PontoConsent
    plugin: PontoPlugin


def config_from(settings: PontoSettings, platform: Platform) -> PontoConfig:
    return PontoConfig(
        client_id=settings.ponto_client_id,
        client_secret=settings.ponto_client_secret,
        api_url=settings.ponto_api_url,
        authorization_url=settings.ponto_authorization_url,
        redirect_uri=platform.url_for(CALLBACK_PATH),
        scopes=settings.ponto_scopes,
        client_cert=settings.ponto_client_cert,
        client_key=settings.ponto_client_key,
        request_sync=settings.ponto_request_sync,
        late_booking_days=settings.ponto_late_booking_days,
        unknown_attributes=settings.ponto_unknown_attributes,
    )


def build(settings: PontoSettings, platform: Platform) -> ProviderParts[PontoConnect]:
    config = config_from(settings, platform)
    clock = platform.clock
    gateway = PontoGateway(config, clock=clock)
    tokens = PontoTokens(gateway, platform.connections, platform.alerts, clock=clock)
    plugin = PontoPlugin(config, gateway, platform.connections, platform.database, clock=clock)
    syncer = PontoSyncer(
        platform.database,
        tokens.client,
        platform.connections,
        platform.alerts,
        SyncOptions(
            request_sync=config.request_sync,
            late_booking_days=config.late_booking_days,
            timezone=platform.timezone,
        ),
        clock=clock,
    )
    consent = PontoConsent(
        config,
        gateway,
        database=platform.database,
        box=platform.box,
        links=platform.links,
        connections=platform.connections,
        alerts=platform.alerts,
        audit=platform.audit,
        clock=clock,
    )
    return ProviderParts(plugin, syncer, PontoConnect(consent, plugin), closers=(gateway.aclose,))


PACKAGE = ProviderPackage(
    Provider.PONTO, "Ponto", build, pages="handlers.ponto", web_paths=("/connect/ponto", CALLBACK_PATH)
)

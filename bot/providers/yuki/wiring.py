"""Builds Yuki's parts (plugin, syncer, connect form) from its settings, and its registry entry."""

from __future__ import annotations

from bot.domain import Provider
from bot.providers.base import Platform, ProviderPackage, ProviderParts
from bot.providers.yuki.api import CallGate, MemorySessions, YukiClient
from bot.providers.yuki.call_budget import DailyCallBudget
from bot.providers.yuki.connect import YukiConnector
from bot.providers.yuki.plugin import YukiPlugin
from bot.providers.yuki.settings import YukiSettings
from bot.providers.yuki.sync import YukiSyncer

CONNECT_PATH = "/connect/yuki"


def build(settings: YukiSettings, platform: Platform) -> ProviderParts[YukiConnector]:
    """A client factory sharing one session cache, the call budget, the connect form, plugin, syncer."""
    sessions = MemorySessions()
    budget = DailyCallBudget(platform.database, settings.yuki_daily_call_budget, clock=platform.clock)

    def clients(access_key: str, *, gate: CallGate | None, currency: str = "EUR") -> YukiClient:
        return YukiClient(
            settings.yuki_api_url, access_key, gate=gate, sessions=sessions, default_currency=currency
        )

    connector = YukiConnector(
        database=platform.database,
        links=platform.links,
        connections=platform.connections,
        budget=budget,
        audit=platform.audit,
        clients=clients,
        clock=platform.clock,
    )
    return ProviderParts(
        plugin=YukiPlugin(platform.database, platform.connections, budget),
        syncer=YukiSyncer(platform.database, platform.connections, budget, clients, clock=platform.clock),
        connect=connector,
        budget=budget,
    )


PACKAGE = ProviderPackage(Provider.YUKI, "Yuki", build, pages="handlers.yuki", web_paths=(CONNECT_PATH,))

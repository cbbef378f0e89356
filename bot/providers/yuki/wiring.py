"""Builds Yuki's parts (plugin, syncer, connect form) from the settings: part of the composition root."""

from __future__ import annotations

from bot.app.runtime import ProviderParts, Runtime
from bot.domain import Provider
from bot.providers.yuki.api import CallGate, MemorySessions, YukiClient
from bot.providers.yuki.call_budget import DailyCallBudget
from bot.providers.yuki.connect import YukiConnected, YukiConnector
from bot.providers.yuki.plugin import YukiPlugin
from bot.providers.yuki.sync import YukiSyncer
from handlers import yuki as yuki_web


def build_yuki(runtime: Runtime) -> ProviderParts:
    """Yuki: a client factory sharing one session cache, the call budget, form, plugin, syncer."""
    settings = runtime.settings
    sessions = MemorySessions()
    budget = DailyCallBudget(runtime.database, settings.yuki_daily_call_budget, clock=runtime.clock)

    def clients(access_key: str, *, gate: CallGate | None, currency: str = "EUR") -> YukiClient:
        return YukiClient(
            settings.yuki_api_url, access_key, gate=gate, sessions=sessions, default_currency=currency
        )

    connector = YukiConnector(
        database=runtime.database,
        links=runtime.links,
        connections=runtime.connections,
        budget=budget,
        audit=runtime.audit,
        clients=clients,
        clock=runtime.clock,
    )

    async def first_sync(connected: YukiConnected) -> None:
        await runtime.sync.run(connected.grant.workspace_id, Provider.YUKI, "connect")

    page = yuki_web.YukiConnectPage(
        connector,
        runtime.renderer,
        runtime.notifier,
        secure=settings.public_url.startswith("https://"),
        budget=settings.yuki_daily_call_budget,
        sync_minutes=settings.sync_interval_minutes,
        after_connect=first_sync,
    )
    return ProviderParts(
        plugin=YukiPlugin(runtime.database, runtime.connections, budget),
        syncer=YukiSyncer(runtime.database, runtime.connections, budget, clients, clock=runtime.clock),
        routes=page.routes(),
    )

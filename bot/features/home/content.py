"""What the Home tab shows a member: connection states, syncs, open alerts, digest and alert channel;
figures (the cash totals) only for members with access to financial data."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from bot.domain import Actor, ConnectionState, Provider
from bot.features.access.gate import ViewGate
from bot.features.access.rights import AccessService
from bot.features.cash.position import CashService, CurrencyTotal
from bot.features.digest.settings import DigestSettings, DigestSettingsStore
from bot.features.incidents.records import AlertChannel, IncidentFacts, alert_channel, open_incidents
from bot.providers import registry
from bot.providers.connections import ConnectionService, ConnectionView
from storage.database import Database


@dataclass(frozen=True)
class ConnectionLine:
    """One provider as the Home tab lists it."""

    provider: str
    title: str
    state: str
    name: str | None
    last_success_at: dt.datetime | None
    next_sync_at: dt.datetime | None
    consent_expires_at: dt.datetime | None
    error: str | None


@dataclass(frozen=True)
class HomeContent:
    """Everything the Home tab template needs; `totals` is None for members without access."""

    connections: list[ConnectionLine]
    incidents: list[IncidentFacts]
    digest: DigestSettings
    alerts: AlertChannel
    can_view: bool
    can_manage: bool
    totals: list[CurrencyTotal] | None


class HomeService:
    """Gathers a member's Home tab from stored data only (never a provider call)."""

    def __init__(
        self,
        *,
        database: Database,
        connections: ConnectionService,
        access: AccessService,
        digest: DigestSettingsStore,
        cash: CashService,
        gate: ViewGate,
        sync_interval: dt.timedelta,
    ) -> None:
        self._database = database
        self._connections = connections
        self._access = access
        self._digest = digest
        self._cash = cash
        self._gate = gate
        self._interval = sync_interval

    async def content(self, actor: Actor, workspace_id: int) -> HomeContent:
        policy = await self._access.policy(workspace_id)
        can_view = policy.can_view(actor)
        async with self._database.read() as session:
            alerts = await alert_channel(session, workspace_id)
        return HomeContent(
            connections=[await self._line(workspace_id, Provider(p)) for p in registry.identifiers()],
            incidents=await open_incidents(self._database, workspace_id),
            digest=await self._digest.get(workspace_id),
            alerts=alerts,
            can_view=can_view,
            can_manage=policy.can_manage(actor),
            totals=await self._totals(actor, workspace_id) if can_view else None,
        )

    async def _line(self, workspace_id: int, provider: Provider) -> ConnectionLine:
        view = await self._connections.find(workspace_id, provider)
        state = view.state if view is not None else ConnectionState.DISCONNECTED
        if view is not None and state == ConnectionState.ACTIVE and _failed_last(view):
            state = ConnectionState.FAILING  # the connection is marked failing only after a few runs
        syncing = view is not None and state in (ConnectionState.ACTIVE, ConnectionState.FAILING)
        return ConnectionLine(
            provider=provider.value,
            title=registry.titles()[provider.value],
            state=state.value,
            name=view.external_name if view is not None else None,
            last_success_at=view.last_success_at if view is not None else None,
            next_sync_at=_next(view.last_attempt_at, self._interval) if syncing and view else None,
            consent_expires_at=view.consent_expires_at if view is not None else None,
            error=view.last_error_code if view is not None and state != ConnectionState.ACTIVE else None,
        )

    async def _totals(self, actor: Actor, workspace_id: int) -> list[CurrencyTotal]:
        """The cash totals; shown figures are audited like /cash (no channel: the Home tab)."""
        position = await self._cash.position(workspace_id)
        admission = await self._gate.admit(actor, workspace_id, "", "/cash home")
        await self._gate.viewed(
            admission, {"home": True, "currencies": [t.currency for t in position.totals]}
        )
        return list(position.totals)


def _failed_last(view: ConnectionView) -> bool:
    failed, succeeded = view.last_error_at, view.last_success_at
    return failed is not None and (succeeded is None or failed > succeeded)


def _next(last_attempt: dt.datetime | None, interval: dt.timedelta) -> dt.datetime | None:
    return None if last_attempt is None else last_attempt + interval

"""What a provider plugs into cashbot (plugin, syncer) and the shared services it is handed (ports)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar

from bot.clock import Clock
from bot.domain import AuditOutcome, LinkGrant, Provider, SyncOutcome
from bot.providers.connections import ConnectionService, ConnectionView
from storage.crypto import SecretBox
from storage.database import Database

ConnectT = TypeVar("ConnectT")


@dataclass(frozen=True)
class DisconnectResult:
    """How a disconnect went: credentials are always deleted; revocation at the provider may fail."""

    had_connection: bool
    revoked_at_provider: bool | None  # None when the provider has nothing to revoke
    note: str | None = None


class ProviderPlugin(Protocol):
    """A provider's part in `/cashbot connect|disconnect|status`."""

    provider: Provider
    title: str

    def configuration_problem(self) -> str | None:
        """Why this server cannot connect the provider (missing settings), or None when it can."""
        ...

    async def disconnect(self, workspace_id: int) -> DisconnectResult:
        """Revoke at the provider where that exists, then delete the stored credentials."""
        ...

    async def status_facts(self, view: ConnectionView) -> list[str]:
        """Extra lines for /cashbot status (e.g. Yuki calls left today)."""
        ...


@dataclass
class SyncRun:
    """What a Syncer reports while it works; `heartbeat()` keeps its claim on the connection alive."""

    id: int
    workspace_id: int
    provider: Provider
    trigger: str
    fetched: int = 0
    written: int = 0
    api_calls: int = 0
    outcome: SyncOutcome = SyncOutcome.SUCCESS
    details: dict[str, Any] = field(default_factory=dict)
    heartbeat: Callable[[], Awaitable[None]] = field(default=lambda: _nothing(), repr=False)


async def _nothing() -> None:
    return None


class Syncer(Protocol):
    """A provider's sync: fetch, store, count. Raises bot.errors types on failure."""

    provider: Provider

    async def sync(self, connection: ConnectionView, run: SyncRun) -> None: ...


RaiseAlert = Callable[..., Awaitable[bool]]
"""`raise_alert(workspace_id, *, kind, dedupe_key, title, detail=None, severity="warning")`: True when new."""


class Alerts(Protocol):
    """The alert channel, as a provider raises and resolves alerts (bot.features.alerts.AlertService)."""

    @property
    def raise_alert(self) -> RaiseAlert: ...

    async def resolve(self, workspace_id: int, dedupe_key: str) -> bool: ...


class Audit(Protocol):
    """The audit trail, as a provider records a connect and a view is recorded (AuditTrail, AuditBatcher)."""

    async def record(
        self,
        *,
        team_id: str | None,
        actor: str,
        action: str,
        outcome: AuditOutcome = AuditOutcome.OK,
        channel_id: str | None = None,
        detail: dict[str, Any] | None = None,
    ) -> None: ...


class Links(Protocol):
    """One-time connect links, as a provider's connect flow uses them (bot.features.connect.links)."""

    async def peek(self, token: str, provider: Provider) -> LinkGrant: ...

    async def consume(self, token: str, provider: Provider) -> LinkGrant: ...

    async def stash(self, link_id: int, secret: str) -> None: ...

    async def unstash(self, link_id: int) -> str | None: ...

    async def issue_csrf(self, link_id: int) -> str: ...

    async def check_csrf(self, link_id: int, csrf: str | None) -> bool: ...


class CallBudget(Protocol):
    """A provider's daily allowance of outside calls, shared by every process (Sync now keeps a reserve)."""

    limit: int

    async def remaining(self, scope: str) -> int: ...


@dataclass(frozen=True)
class Platform:
    """What cashbot hands every provider it builds: storage, secrets, the clock and shared services."""

    database: Database
    box: SecretBox
    clock: Clock
    connections: ConnectionService
    alerts: Alerts
    audit: Audit
    links: Links
    url_for: Callable[[str], str]
    timezone: str


@dataclass(frozen=True)
class ProviderParts(Generic[ConnectT]):
    """What a built provider contributes; `connect` is what its web pages drive."""

    plugin: ProviderPlugin
    syncer: Syncer
    connect: ConnectT
    budget: CallBudget | None = None
    closers: tuple[Callable[[], Awaitable[None]], ...] = ()


@dataclass(frozen=True)
class ProviderPackage:
    """One installed provider, as the registry lists it.

    `build(settings, platform)` makes its parts; `pages` names the handlers module whose
    `pages(parts, kit)` returns its web routes; `web_paths` are those routes' paths.
    """

    provider: Provider
    title: str
    build: Callable[[Any, Platform], ProviderParts[Any]]
    pages: str
    web_paths: tuple[str, ...]

"""Ponto in cashbot: its configuration, the clients it hands out, and its plugin for /cashbot.

The plugin answers `/cashbot connect|disconnect|status` for Ponto: whether this server can
connect Ponto at all, disconnecting (revoke the refresh token at Ponto per RFC 7009, then delete
the credentials even when Ponto cannot be reached), and the lines Ponto adds to the status.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from dataclasses import dataclass, field

import httpx

from bot.clock import Clock
from bot.domain import Provider, mask_reference
from bot.errors import NotConnected, ProviderError, SecretUnreadable
from bot.providers.base import Alerts, DisconnectResult
from bot.providers.connections import ConnectionService, ConnectionView
from bot.providers.http import RetryPolicy, Sleep
from bot.providers.ponto.api import (
    PontoClient,
    PontoOAuth,
    TokenSource,
    Transport,
    UnknownAttributes,
    http_client,
)
from bot.providers.ponto.tokens import TokenManager
from storage.database import Database
from storage.ponto import AccountSummary, account_summaries

log = logging.getLogger(__name__)

CALLBACK_PATH = "/oauth/ponto/callback"
CONSENT_WARNING = dt.timedelta(days=14)
# Token calls get one attempt each (see oauth.py); the deadline stays below the refresh lock's TTL.
API_POLICY = RetryPolicy(attempts=4, deadline=30.0, timeout=httpx.Timeout(15.0, connect=5.0))


@dataclass(frozen=True)
class PontoConfig:
    """Everything the Ponto services need from the settings (the composition root fills it)."""

    client_id: str | None
    client_secret: str | None = field(repr=False)
    api_url: str
    authorization_url: str
    redirect_uri: str
    scopes: str = "ai offline_access name"
    client_cert: str | None = None
    client_key: str | None = None
    request_sync: bool = False
    late_booking_days: int = 10
    unknown_attributes: UnknownAttributes = "error"

    @property
    def configured(self) -> bool:
        return bool(self.client_id and self.client_secret)


class PontoGateway:
    """Hands out OAuth and API clients over one shared httpx client (with mTLS when configured).

    Each `client()` gets its own Transport, so a sync run counts exactly the calls it made.
    """

    def __init__(
        self,
        config: PontoConfig,
        *,
        clock: Clock,
        http: httpx.AsyncClient | None = None,
        policy: RetryPolicy = API_POLICY,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self.config = config
        self._clock = clock
        self._http = http
        self._policy = policy
        self._sleep = sleep

    @property
    def http(self) -> httpx.AsyncClient:
        if self._http is None:  # built on first use: loading a certificate is I/O
            self._http = http_client(self.config.client_cert, self.config.client_key, policy=self._policy)
        return self._http

    def transport(self) -> Transport:
        return Transport(self.http, self.config.api_url, policy=self._policy, sleep=self._sleep)

    def oauth(self) -> PontoOAuth:
        return PontoOAuth(
            self.transport(),
            self.config.client_id or "",
            self.config.client_secret or "",
            self.config.authorization_url,
            clock=self._clock,
        )

    def client(self, tokens: TokenSource) -> PontoClient:
        return PontoClient(self.transport(), tokens, unknown_attributes=self.config.unknown_attributes)

    async def aclose(self) -> None:
        if self._http is not None:
            await self._http.aclose()


class PontoTokens:
    """One TokenManager per connection in this process, so its coroutines share one lock and cache."""

    def __init__(
        self,
        gateway: PontoGateway,
        connections: ConnectionService,
        alerts: Alerts,
        *,
        clock: Clock,
    ) -> None:
        self._gateway = gateway
        self._connections = connections
        self._alerts = alerts
        self._clock = clock
        self._managers: dict[int, TokenManager] = {}

    def for_connection(self, connection: ConnectionView) -> TokenManager:
        manager = self._managers.get(connection.id)
        if manager is None:
            manager = TokenManager(
                connection, self._connections, self._alerts, self._gateway.oauth(), clock=self._clock
            )
            self._managers[connection.id] = manager
        else:
            # A disconnect or a reconnect (perhaps to another organisation) bumped the version:
            # the token this process cached belongs to what was there before.
            manager.forget_unless(connection.version)
        return manager

    def client(self, connection: ConnectionView) -> PontoClient:
        """An API client acting for this connection's organisation."""
        return self._gateway.client(self.for_connection(connection))


class PontoPlugin:
    """Ponto's part in /cashbot connect, disconnect and status."""

    provider = Provider.PONTO
    title = "Ponto"

    def __init__(
        self,
        config: PontoConfig,
        gateway: PontoGateway,
        connections: ConnectionService,
        database: Database,
        *,
        clock: Clock,
    ) -> None:
        self._config = config
        self._gateway = gateway
        self._connections = connections
        self._database = database
        self._clock = clock

    def configuration_problem(self) -> str | None:
        if self._config.configured:
            return None
        return (
            "This cashbot server has no Ponto app credentials. An operator sets PONTO_CLIENT_ID and "
            "PONTO_CLIENT_SECRET (from the Ibanity Developer Portal or Ponto's integrations page) "
            "and restarts cashbot."
        )

    async def disconnect(self, workspace_id: int) -> DisconnectResult:
        """Revoke the refresh token at Ponto, then delete our credentials whatever Ponto said."""
        view = await self._connections.find(workspace_id, Provider.PONTO)
        if view is None or view.state.value == "disconnected":
            return DisconnectResult(had_connection=False, revoked_at_provider=None)
        revoked, note = await self._revoke(workspace_id)
        await self._connections.disconnect(workspace_id, Provider.PONTO)
        log.info("ponto.disconnected", extra={"workspace_id": workspace_id, "revoked": revoked})
        return DisconnectResult(had_connection=True, revoked_at_provider=revoked, note=note)

    async def _revoke(self, workspace_id: int) -> tuple[bool | None, str | None]:
        try:
            _, credentials = await self._connections.load(workspace_id, Provider.PONTO)
        except (NotConnected, SecretUnreadable):
            return None, "There was no usable Ponto token to revoke."
        refresh_token = credentials.get("refresh_token")
        if not isinstance(refresh_token, str) or not self._config.configured:
            return None, "There was no usable Ponto token to revoke."
        try:
            await self._gateway.oauth().revoke(refresh_token)
        except ProviderError as error:
            log.warning("ponto.revoke_failed", extra={"workspace_id": workspace_id, "code": error.code})
            return False, (
                "Ponto could not be reached to revoke the access, so it was only deleted here. "
                "To be thorough, remove cashbot from the integrations in your Ponto dashboard."
            )
        return True, None

    async def status_facts(self, view: ConnectionView) -> list[str]:
        async with self._database.read() as session:
            accounts = await account_summaries(session, view.id)
        return status_lines(accounts, self._clock.now())


def status_lines(accounts: list[AccountSummary], now: dt.datetime) -> list[str]:
    """What /cashbot status says about the synced accounts: banks, volume, consent, bank errors."""
    if not accounts:
        return ["No bank accounts synced yet."]
    banks = sorted({account.bank_name or "unknown bank" for account in accounts})
    stored = sum(account.transactions for account in accounts)
    lines = [f"{len(accounts)} bank accounts at {', '.join(banks)}; {stored:,} transactions stored."]
    for account in accounts:
        # /cashbot status is open to every member: never a full account number there.
        shown = mask_reference(account.reference, None) if account.reference else account.description or ""
        name = f"{account.bank_name or 'Bank'} {shown}".strip()
        expires = account.authorization_expires_at
        if expires is not None and expires <= now:
            lines.append(f"{name}: the bank consent has expired; renew it in Ponto.")
        elif expires is not None and expires - now <= CONSENT_WARNING:
            lines.append(f"{name}: the bank consent ends {expires:%Y-%m-%d}; renew it in Ponto.")
        if account.latest_sync_status == "error":
            lines.append(f"{name}: Ponto's last sync with the bank failed ({account.latest_sync_error}).")
    return lines

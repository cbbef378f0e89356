"""Shared pieces of the Ponto tests: the simulator on loopback, a connected world, recorders.

Imported by tests/integrations/ponto, tests/services/test_ponto_* and tests/handlers/test_ponto_*.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from bot.clock import SystemClock
from bot.domain import Provider
from bot.features.alerts import AlertService
from bot.features.sync.runner import SyncService
from bot.providers.connections import ConnectionService, ConnectionView
from bot.providers.http import RetryPolicy
from bot.providers.ponto.api import PontoOAuth, TokenSet, Transport, new_code_verifier
from bot.providers.ponto.plugin import PontoConfig, PontoGateway, PontoTokens
from bot.providers.ponto.sync import PontoSyncer, SyncOptions
from bot.sandbox.ponto import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, PontoSimulator
from bot.sandbox.server import serve_simulator
from storage.crypto import SecretBox, generate_key
from storage.database import Database
from storage.workspaces import ensure_workspace

TEAM = "T0CASHBOT"
REDIRECT = "http://127.0.0.1:3000/oauth/ponto/callback"
FAST = RetryPolicy(attempts=4, base_delay=0.01, max_delay=0.05, deadline=10.0)


@pytest.fixture
async def ponto_sim() -> AsyncIterator[PontoSimulator]:
    """A fresh simulator (600 transactions over five accounts) on a loopback port."""
    async with serve_simulator(PontoSimulator(transactions=600)) as sim:
        yield sim


def ponto_config(base_url: str, **overrides: Any) -> PontoConfig:
    """Ponto settings for a simulator at `base_url`."""
    values: dict[str, Any] = {
        "client_id": DEFAULT_CLIENT_ID,
        "client_secret": DEFAULT_CLIENT_SECRET,
        "api_url": base_url,
        "authorization_url": base_url + "/oauth2/auth",
        "redirect_uri": REDIRECT,
    }
    return PontoConfig(**(values | overrides))


def ponto_settings(sim: PontoSimulator) -> dict[str, Any]:
    """bot_settings overrides that point the bot at the simulator."""
    return {
        "ponto_client_id": DEFAULT_CLIENT_ID,
        "ponto_client_secret": DEFAULT_CLIENT_SECRET,
        "ponto_api_url": sim.base_url,
        "ponto_authorization_url": sim.base_url + "/oauth2/auth",
    }


@dataclass
class Sleeps:
    """An injected sleep that records how long it was asked to wait and returns at once."""

    delays: list[float] = field(default_factory=list)

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


class StaticTokens:
    """A TokenSource with a fixed token (for client tests that are not about tokens)."""

    def __init__(self, token: str) -> None:
        self.token = token
        self.rejected: list[str] = []

    async def access_token(self) -> str:
        return self.token

    async def token_rejected(self, token: str) -> None:
        self.rejected.append(token)


async def consent_tokens(
    base_url: str, http: httpx.AsyncClient, scope: str = "ai offline_access name"
) -> TokenSet:
    """Walk the simulator's consent page and exchange the code: a real TokenSet."""
    oauth = PontoOAuth(
        Transport(http, base_url),
        DEFAULT_CLIENT_ID,
        DEFAULT_CLIENT_SECRET,
        base_url + "/oauth2/auth",
        clock=SystemClock(),
    )
    verifier = new_code_verifier()
    url = oauth.authorization_url(redirect_uri=REDIRECT, scope=scope, state="s" * 43, verifier=verifier)
    approve = await http.get(url)
    code = parse_qs(urlsplit(approve.headers["location"]).query)["code"][0]
    return await oauth.exchange_code(code, verifier, REDIRECT)


@dataclass
class PontoWorld:
    """A database with one workspace connected to the simulator, and the services around it."""

    database: Database
    box: SecretBox
    sim: PontoSimulator
    connections: ConnectionService
    alerts: AlertService
    gateway: PontoGateway
    tokens: PontoTokens
    syncer: PontoSyncer
    sync: SyncService
    workspace_id: int
    sleeps: Sleeps

    async def connection(self) -> ConnectionView:
        view = await self.connections.find(self.workspace_id, Provider.PONTO)
        assert view is not None
        return view

    async def stored_credentials(self) -> dict[str, Any]:
        return (await self.connections.load(self.workspace_id, Provider.PONTO))[1]

    async def expire_stored_token(self) -> None:
        """Make the stored access token due for refresh (and dead at Ponto, too)."""
        view = await self.connection()
        await self.connections.update_settings(
            view.id, token_expires_at=dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)
        )
        self.sim.expire_access_tokens()


@asynccontextmanager
async def ponto_world(
    database_url: str,
    sim: PontoSimulator,
    *,
    keys: tuple[str, ...] | None = None,
    options: SyncOptions | None = None,
    policy: RetryPolicy = FAST,
) -> AsyncIterator[PontoWorld]:
    database = Database(database_url, clock=SystemClock())
    box = SecretBox(keys or (generate_key(),))
    connections, alerts = (
        ConnectionService(database, box, clock=database.clock),
        AlertService(database, clock=database.clock),
    )
    sleeps = Sleeps()
    gateway = PontoGateway(ponto_config(sim.base_url), policy=policy, sleep=sleeps, clock=database.clock)
    tokens = PontoTokens(gateway, connections, alerts, clock=database.clock)
    syncer = PontoSyncer(
        database, tokens.client, connections, alerts, options, sleep=sleeps, clock=database.clock
    )
    sync = SyncService(database, connections, alerts, {Provider.PONTO: syncer}, clock=database.clock)
    async with database.write() as session:
        workspace_id = (await ensure_workspace(session, TEAM, timezone="Europe/Brussels")).id
    issued = await consent_tokens(sim.base_url, gateway.http)
    await connections.save(
        workspace_id,
        Provider.PONTO,
        {"access_token": issued.access_token, "refresh_token": issued.refresh_token, "scope": issued.scope},
        connected_by="U0ADMIN",
        token_expires_at=issued.expires_at,
    )
    try:
        yield PontoWorld(
            database, box, sim, connections, alerts, gateway, tokens, syncer, sync, workspace_id, sleeps
        )
    finally:
        await gateway.aclose()
        await database.dispose()


@pytest.fixture
async def world(database_url: str, ponto_sim: PontoSimulator) -> AsyncIterator[PontoWorld]:
    """One workspace connected to a fresh simulator; the simulator's call log starts empty."""
    async with ponto_world(database_url, ponto_sim) as built:
        ponto_sim.reset()
        yield built

"""Ponto access tokens for one connection: refreshed ahead of expiry, once, across processes.

Ponto rotates the refresh token on every refresh and a reused one ends the grant, so two
refreshes of the same token must never happen. The database decides who refreshes:
`claim_refresh` is a compare-and-swap lock on the connection row. The winner calls Ponto outside
any transaction and stores the new pair with `swap_credentials` (version + 1 and the lock
released in the same UPDATE, so the spent refresh token is gone the moment the new one is
there). Everyone else waits and re-reads the stored token instead of refreshing again. After a
failed or timed-out refresh nobody replays the old token blindly: the next caller re-reads first.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import os
import socket
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from bot.clock import Clock
from bot.domain import ConnectionState, Provider
from bot.errors import ProviderError, ProviderUnavailable, ReauthRequired, StorageUnavailable
from bot.providers.base import Alerts
from bot.providers.connections import ConnectionService, ConnectionView
from bot.providers.ponto.api import PontoOAuth

log = logging.getLogger(__name__)

LEEWAY = dt.timedelta(seconds=60)
LOCK_TTL = dt.timedelta(seconds=45)  # longer than a token call may take (see PontoGateway's policy)
WAIT_STEP = 0.05
STORE_ATTEMPTS = 4
REAUTH_ALERT = "ponto:reauth"

Sleep = Callable[[float], Awaitable[None]]


@dataclass(frozen=True)
class _Stored:
    """The token as stored, with the version it was read at."""

    version: int
    access_token: str
    expires_at: dt.datetime | None
    credentials: dict[str, Any]


class TokenManager:
    """A TokenSource for PontoClient, backed by the connection row; one per connection and process."""

    def __init__(
        self,
        connection: ConnectionView,
        connections: ConnectionService,
        alerts: Alerts,
        oauth: PontoOAuth,
        *,
        leeway: dt.timedelta = LEEWAY,
        lock_ttl: dt.timedelta = LOCK_TTL,
        clock: Clock,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self._connection = connection
        self._connections = connections
        self._alerts = alerts
        self._oauth = oauth
        self._leeway = leeway
        self._lock_ttl = lock_ttl
        self._clock = clock
        self._sleep = sleep
        self._owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._local = asyncio.Lock()  # coroutines of this process queue here, not at the database
        self._cached: _Stored | None = None
        self.refreshes = 0

    async def access_token(self) -> str:
        async with self._local:
            cached = self._cached
            if cached is not None and self._valid(cached):
                return cached.access_token
            stored = await self._read()
            if not self._valid(stored):
                stored = await self._refresh_or_wait(stored)
            self._cached = stored
            return stored.access_token

    def forget_unless(self, version: int) -> None:
        """Drop the cached token unless it was read at this connection version."""
        if self._cached is not None and self._cached.version != version:
            self._cached = None

    async def token_rejected(self, token: str) -> None:
        """The API refused `token` (401): forget it; the next call re-reads or refreshes."""
        async with self._local:
            if self._cached is not None and self._cached.access_token == token:
                self._cached = None
            stored = await self._read()
            if stored.access_token == token:  # nobody replaced it yet: refresh despite its expiry
                self._cached = await self._refresh_or_wait(stored, rejected=token)

    def _valid(self, stored: _Stored) -> bool:
        return stored.expires_at is not None and stored.expires_at - self._leeway > self._clock.now()

    async def _read(self) -> _Stored:
        view, credentials = await self._connections.load(self._connection.workspace_id, Provider.PONTO)
        if view.state == ConnectionState.NEEDS_REAUTH:
            raise ReauthRequired("ponto", "the connection needs to be made again", code=view.last_error_code)
        access = credentials.get("access_token")
        if not isinstance(access, str) or not isinstance(credentials.get("refresh_token"), str):
            raise ReauthRequired(
                "ponto", "the stored credentials are incomplete", code="credentials_incomplete"
            )
        return _Stored(view.version, access, view.token_expires_at, credentials)

    async def _refresh_or_wait(self, stale: _Stored, rejected: str | None = None) -> _Stored:
        """Refresh if we win the lock; otherwise wait for the winner's token (bounded)."""
        waited = 0.0
        while waited <= self._lock_ttl.total_seconds():
            if await self._connections.claim_refresh(self._connection.id, self._owner, self._lock_ttl):
                return await self._refresh_holding_lock(rejected)
            await self._sleep(WAIT_STEP)
            waited += WAIT_STEP
            current = await self._read()
            if current.version != stale.version and self._valid(current):
                return current  # another process refreshed: use its token
        raise ProviderUnavailable("ponto", "another process is refreshing the token and did not finish")

    async def _refresh_holding_lock(self, rejected: str | None) -> _Stored:
        try:
            current = await self._read()
            if current.access_token != rejected and self._valid(current):
                return current  # refreshed by someone between our read and our claim
            try:
                tokens = await self._oauth.refresh(current.credentials["refresh_token"])
            except ReauthRequired as error:
                await self._needs_reauth(error, current.version)
                raise
            self.refreshes += 1
            credentials = {
                **current.credentials,
                "access_token": tokens.access_token,
                "refresh_token": tokens.refresh_token,
                "scope": tokens.scope or current.credentials.get("scope"),
            }
            swapped = await self._store_rotated(current.version, credentials, tokens.expires_at)
        finally:
            await self._connections.release_refresh(self._connection.id, self._owner)
        if swapped is None:
            # Someone replaced the credentials while we held the lock (a reconnect, a disconnect):
            # theirs win; ours are dropped (and revoked, so no grant is left behind).
            log.warning("ponto.token_swap_lost", extra={"connection_id": self._connection.id})
            await self._revoke_quietly(tokens.refresh_token)
            return await self._read()
        log.info(
            "ponto.token_refreshed", extra={"connection_id": self._connection.id, "version": swapped.version}
        )
        return _Stored(swapped.version, tokens.access_token, tokens.expires_at, credentials)

    async def _store_rotated(
        self, version: int, credentials: dict[str, Any], expires_at: dt.datetime | None
    ) -> ConnectionView | None:
        """Save the rotated pair. Ponto has already spent the old refresh token, so a database blip
        here would strand the grant: try a few times before giving up."""
        for attempt in range(STORE_ATTEMPTS):
            try:
                return await self._connections.swap_credentials(
                    self._connection.id,
                    version,
                    credentials,
                    token_expires_at=expires_at,
                    owner=(self._connection.workspace_id, Provider.PONTO),
                )
            except StorageUnavailable:
                if attempt == STORE_ATTEMPTS - 1:
                    log.error("ponto.rotated_token_not_stored", extra={"connection_id": self._connection.id})
                    raise
                await self._sleep(0.2 * 2**attempt)
        return None  # pragma: no cover - the loop returns or raises

    async def _revoke_quietly(self, refresh_token: str) -> None:
        try:
            await self._oauth.revoke(refresh_token)
        except ProviderError as error:
            log.warning("ponto.revoke_failed", extra={"code": error.code, "request_id": error.request_id})

    async def _needs_reauth(self, error: ReauthRequired, version: int) -> None:
        """The grant is gone: the connection waits for a person, and the workspace hears about it.

        Only for the credentials that failed: if an admin reconnected meanwhile, nothing changes.
        """
        code = error.code or "invalid_grant"
        marked = await self._connections.mark(
            self._connection.id,
            ConnectionState.NEEDS_REAUTH,
            error_code=code,
            error_message=str(error),
            only_version=version,
        )
        if not marked:
            return
        await self._alerts.raise_alert(
            self._connection.workspace_id,
            kind="reauth_required",
            dedupe_key=REAUTH_ALERT,
            title="Ponto needs to be reconnected",
            detail={"provider": "ponto", "code": code, "message": str(error)},
            severity="error",
        )
        log.warning("ponto.needs_reauth", extra={"connection_id": self._connection.id, "code": code})

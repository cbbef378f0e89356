"""A workspace's connection to a provider: encrypted credentials, state, health, versioning."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

from bot.clock import Clock
from bot.domain import ConnectionState, Provider
from bot.errors import NotConnected
from storage import connections as queries
from storage.crypto import SecretBox
from storage.database import Database
from storage.models import Connection

SYNCABLE = (ConnectionState.ACTIVE.value, ConnectionState.FAILING.value)


@dataclass(frozen=True)
class ConnectionView:
    """A connection as the rest of cashbot sees it: everything but the credentials."""

    id: int
    workspace_id: int
    team_id: str
    provider: Provider
    state: ConnectionState
    version: int
    external_id: str | None
    external_name: str | None
    scope_key: str | None
    settings: dict[str, Any]
    token_expires_at: dt.datetime | None
    consent_expires_at: dt.datetime | None
    last_attempt_at: dt.datetime | None
    last_success_at: dt.datetime | None
    last_error_at: dt.datetime | None
    last_error_code: str | None
    last_error_message: str | None
    consecutive_failures: int
    connected_by_user_id: str | None

    @classmethod
    def of(cls, row: Connection, team_id: str) -> ConnectionView:
        return cls(
            id=row.id,
            workspace_id=row.workspace_id,
            team_id=team_id,
            provider=Provider(row.provider),
            state=ConnectionState(row.state),
            version=row.version,
            external_id=row.external_id,
            external_name=row.external_name,
            scope_key=row.scope_key,
            settings=json.loads(row.settings) if row.settings else {},
            token_expires_at=row.token_expires_at,
            consent_expires_at=row.consent_expires_at,
            last_attempt_at=row.last_attempt_at,
            last_success_at=row.last_success_at,
            last_error_at=row.last_error_at,
            last_error_code=row.last_error_code,
            last_error_message=row.last_error_message,
            consecutive_failures=row.consecutive_failures,
            connected_by_user_id=row.connected_by_user_id,
        )


class ConnectionService:
    """Reads and changes connection rows; credentials are JSON encrypted for that workspace and provider."""

    def __init__(self, database: Database, box: SecretBox, *, clock: Clock) -> None:
        self._database = database
        self._box = box
        self._clock = clock

    @staticmethod
    def _purpose(workspace_id: int, provider: Provider | str) -> str:
        return f"connection.credentials:{workspace_id}:{Provider(provider).value}"

    def _seal(self, workspace_id: int, provider: Provider, credentials: dict[str, Any]) -> str:
        return self._box.encrypt(json.dumps(credentials), purpose=self._purpose(workspace_id, provider))

    async def save(
        self,
        workspace_id: int,
        provider: Provider,
        credentials: dict[str, Any],
        *,
        connected_by: str | None,
        external_id: str | None = None,
        external_name: str | None = None,
        scope_key: str | None = None,
        token_expires_at: dt.datetime | None = None,
        consent_expires_at: dt.datetime | None = None,
        settings: dict[str, Any] | None = None,
    ) -> ConnectionView:
        """Create or replace the connection with fresh credentials; it becomes active."""
        async with self._database.write() as session:
            row = await queries.connection_for_update(session, workspace_id, provider.value)
            row.state = ConnectionState.ACTIVE.value
            row.credentials = self._seal(workspace_id, provider, credentials)
            row.version = (row.version or 0) + 1
            row.connected_by_user_id = connected_by
            row.external_id, row.external_name, row.scope_key = external_id, external_name, scope_key
            row.token_expires_at, row.consent_expires_at = token_expires_at, consent_expires_at
            row.settings = json.dumps(settings) if settings is not None else row.settings
            row.consecutive_failures = 0
            row.refresh_lock_owner = row.refresh_lock_until = None
            await session.flush()
            team_id = await queries.team_id(session, workspace_id)
            return ConnectionView.of(row, team_id)

    async def _one(self, **where: Any) -> tuple[Connection, str] | None:
        """The connection row matching `where`, with its workspace's team id."""
        async with self._database.read() as session:
            return await queries.connection_with_team(session, **where)

    async def find(self, workspace_id: int, provider: Provider) -> ConnectionView | None:
        found = await self._one(workspace_id=workspace_id, provider=provider.value)
        return None if found is None else ConnectionView.of(*found)

    async def get(self, connection_id: int) -> ConnectionView | None:
        found = await self._one(connection_id=connection_id)
        return None if found is None else ConnectionView.of(*found)

    async def load(self, workspace_id: int, provider: Provider) -> tuple[ConnectionView, dict[str, Any]]:
        """The connection and its decrypted credentials; NotConnected when there are none."""
        found = await self._one(workspace_id=workspace_id, provider=provider.value)
        sealed = None if found is None else found[0].credentials
        if found is None or sealed is None:
            raise NotConnected(provider.value)
        row, team_id = found
        credentials = json.loads(self._box.decrypt(sealed, purpose=self._purpose(workspace_id, provider)))
        return ConnectionView.of(row, team_id), credentials

    async def swap_credentials(
        self,
        connection_id: int,
        expected_version: int,
        credentials: dict[str, Any],
        *,
        token_expires_at: dt.datetime | None = None,
        owner: tuple[int, Provider] | None = None,
    ) -> ConnectionView | None:
        """Replace the credentials only if nobody changed them since `expected_version`.

        `owner` (workspace id, provider) spares the read that finds it: a rotated refresh token
        is then written by the very first statement after it arrived.
        """
        if owner is None:
            view = await self.get(connection_id)
            if view is None:
                return None
            owner = (view.workspace_id, view.provider)
        sealed = self._seal(owner[0], owner[1], credentials)
        async with self._database.write() as session:
            swapped = await queries.swap_credentials(
                session,
                connection_id,
                expected_version,
                sealed,
                token_expires_at,
            )
        return await self.get(connection_id) if swapped else None

    async def claim_refresh(self, connection_id: int, owner: str, ttl: dt.timedelta) -> bool:
        """A short lock across processes so only one of them refreshes a token at a time."""
        now = self._clock.now()
        async with self._database.write() as session:
            return await queries.claim_refresh(session, connection_id, owner, now, ttl)

    async def release_refresh(self, connection_id: int, owner: str) -> None:
        async with self._database.write() as session:
            await queries.release_refresh(session, connection_id, owner)

    async def mark(
        self,
        connection_id: int,
        state: ConnectionState,
        *,
        error_code: str | None = None,
        error_message: str | None = None,
        only_version: int | None = None,
    ) -> bool:
        """Set the state; with an error, also record it and count a consecutive failure.

        With `only_version`, nothing changes if the credentials were replaced since (a reconnect).
        True when the connection was changed.
        """
        values: dict[str, Any] = {"state": state.value, "last_attempt_at": self._clock.now()}
        if error_code is not None:
            values |= {
                "last_error_at": self._clock.now(),
                "last_error_code": error_code[:64],
                "last_error_message": (error_message or "")[:500],
            }
        async with self._database.write() as session:
            # A sync that fails after a concurrent disconnect must not bring the connection back.
            return await queries.mark(
                session, connection_id, values, failed=error_code is not None, only_version=only_version
            )

    async def record_success(self, connection_id: int) -> None:
        now = self._clock.now()
        async with self._database.write() as session:
            await queries.record_success(session, connection_id, now, SYNCABLE)

    async def update_settings(self, connection_id: int, **values: Any) -> None:
        """Change descriptive fields (consent expiry, external name, settings JSON) in place."""
        if "settings" in values and values["settings"] is not None:
            values["settings"] = json.dumps(values["settings"])
        async with self._database.write() as session:
            await queries.update_connection(session, connection_id, values)

    async def disconnect(self, workspace_id: int, provider: Provider) -> ConnectionView | None:
        """Delete the credentials and mark the connection disconnected (idempotent)."""
        async with self._database.write() as session:
            await queries.disconnect(session, workspace_id, provider.value)
        return await self.find(workspace_id, provider)

    async def active(
        self, provider: Provider | None = None, team_id: str | None = None
    ) -> list[ConnectionView]:
        """Connections a sync should run for (active or failing; not needing a person)."""
        async with self._database.read() as session:
            rows = await queries.connections_in(
                session, SYNCABLE, None if provider is None else provider.value, team_id
            )
        return [ConnectionView.of(row, team) for row, team in rows]

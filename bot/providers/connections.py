"""A workspace's connection to a provider: encrypted credentials, state, health, versioning."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import or_, select, update

from bot.clock import Clock
from bot.domain import ConnectionState, Provider
from bot.errors import NotConnected
from storage.crypto import SecretBox
from storage.database import Database, affected_rows
from storage.models import Connection, Workspace

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
            row = (
                await session.execute(
                    select(Connection).where(
                        Connection.workspace_id == workspace_id, Connection.provider == provider.value
                    )
                )
            ).scalar_one_or_none()
            if row is None:
                row = Connection(
                    workspace_id=workspace_id, provider=provider.value, version=0, consecutive_failures=0
                )
                session.add(row)
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
            team_id = await _team_id(session, workspace_id)
            return ConnectionView.of(row, team_id)

    async def _one(self, *where: Any) -> tuple[Connection, str] | None:
        """The connection row matching `where`, with its workspace's team id."""
        async with self._database.read() as session:
            found = (
                await session.execute(
                    select(Connection, Workspace.team_id)
                    .join(Workspace, Workspace.id == Connection.workspace_id)
                    .where(*where)
                )
            ).one_or_none()
        return None if found is None else (found[0], found[1])

    async def find(self, workspace_id: int, provider: Provider) -> ConnectionView | None:
        found = await self._one(
            Connection.workspace_id == workspace_id, Connection.provider == provider.value
        )
        return None if found is None else ConnectionView.of(*found)

    async def get(self, connection_id: int) -> ConnectionView | None:
        found = await self._one(Connection.id == connection_id)
        return None if found is None else ConnectionView.of(*found)

    async def load(self, workspace_id: int, provider: Provider) -> tuple[ConnectionView, dict[str, Any]]:
        """The connection and its decrypted credentials; NotConnected when there are none."""
        found = await self._one(
            Connection.workspace_id == workspace_id, Connection.provider == provider.value
        )
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
            result = await session.execute(
                update(Connection)
                .where(Connection.id == connection_id, Connection.version == expected_version)
                .values(
                    credentials=sealed,
                    version=Connection.version + 1,
                    token_expires_at=token_expires_at,
                    refresh_lock_owner=None,
                    refresh_lock_until=None,
                )
            )
        return await self.get(connection_id) if affected_rows(result) == 1 else None

    async def claim_refresh(self, connection_id: int, owner: str, ttl: dt.timedelta) -> bool:
        """A short lock across processes so only one of them refreshes a token at a time."""
        now = self._clock.now()
        async with self._database.write() as session:
            result = await session.execute(
                update(Connection)
                .where(
                    Connection.id == connection_id,
                    or_(
                        Connection.refresh_lock_until.is_(None),
                        Connection.refresh_lock_until < now,
                        Connection.refresh_lock_owner == owner,
                    ),
                )
                .values(refresh_lock_owner=owner, refresh_lock_until=now + ttl)
            )
        return affected_rows(result) == 1

    async def release_refresh(self, connection_id: int, owner: str) -> None:
        async with self._database.write() as session:
            await session.execute(
                update(Connection)
                .where(Connection.id == connection_id, Connection.refresh_lock_owner == owner)
                .values(refresh_lock_owner=None, refresh_lock_until=None)
            )

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
                "consecutive_failures": Connection.consecutive_failures + 1,
            }
        where = [Connection.id == connection_id, Connection.state != ConnectionState.DISCONNECTED.value]
        if only_version is not None:
            where.append(Connection.version == only_version)
        async with self._database.write() as session:
            # A sync that fails after a concurrent disconnect must not bring the connection back.
            result = await session.execute(update(Connection).where(*where).values(values))
        return affected_rows(result) == 1

    async def record_success(self, connection_id: int) -> None:
        now = self._clock.now()
        async with self._database.write() as session:
            await session.execute(
                update(Connection)
                .where(Connection.id == connection_id, Connection.state.in_(SYNCABLE))
                .values(
                    state=ConnectionState.ACTIVE.value,
                    last_attempt_at=now,
                    last_success_at=now,
                    consecutive_failures=0,
                )
            )

    async def update_settings(self, connection_id: int, **values: Any) -> None:
        """Change descriptive fields (consent expiry, external name, settings JSON) in place."""
        if "settings" in values and values["settings"] is not None:
            values["settings"] = json.dumps(values["settings"])
        async with self._database.write() as session:
            await session.execute(update(Connection).where(Connection.id == connection_id).values(values))

    async def disconnect(self, workspace_id: int, provider: Provider) -> ConnectionView | None:
        """Delete the credentials and mark the connection disconnected (idempotent)."""
        async with self._database.write() as session:
            await session.execute(
                update(Connection)
                .where(Connection.workspace_id == workspace_id, Connection.provider == provider.value)
                .values(
                    credentials=None,
                    state=ConnectionState.DISCONNECTED.value,
                    version=Connection.version + 1,
                    token_expires_at=None,
                    refresh_lock_owner=None,
                    refresh_lock_until=None,
                )
            )
        return await self.find(workspace_id, provider)

    async def active(
        self, provider: Provider | None = None, team_id: str | None = None
    ) -> list[ConnectionView]:
        """Connections a sync should run for (active or failing; not needing a person)."""
        query = (
            select(Connection, Workspace.team_id)
            .join(Workspace, Workspace.id == Connection.workspace_id)
            .where(Connection.state.in_(SYNCABLE), Workspace.uninstalled_at.is_(None))
            .order_by(Connection.id)
        )
        if provider is not None:
            query = query.where(Connection.provider == provider.value)
        if team_id is not None:
            query = query.where(Workspace.team_id == team_id)
        async with self._database.read() as session:
            rows = (await session.execute(query)).all()
        return [ConnectionView.of(row, team) for row, team in rows]


async def _team_id(session: Any, workspace_id: int) -> str:
    return str(
        (await session.execute(select(Workspace.team_id).where(Workspace.id == workspace_id))).scalar_one()
    )

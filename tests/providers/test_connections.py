"""Connections: encrypted credentials, compare-and-swap on version, the refresh lock, disconnect."""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest
from sqlalchemy import select

from bot.clock import SystemClock
from bot.domain import ConnectionState, Provider
from bot.errors import NotConnected
from bot.providers.connections import ConnectionService
from storage.crypto import SecretBox, generate_key
from storage.database import Database
from storage.models import Connection
from storage.workspaces import ensure_workspace


@pytest.fixture
async def service(database_url: str):  # type: ignore[no-untyped-def]
    database = Database(database_url, clock=SystemClock())
    async with database.write() as session:
        workspace = await ensure_workspace(session, "T1", timezone="Europe/Brussels")
    yield (
        database,
        ConnectionService(database, SecretBox([generate_key()]), clock=database.clock),
        workspace.id,
    )
    await database.dispose()


async def test_credentials_are_encrypted_and_round_trip(service) -> None:  # type: ignore[no-untyped-def]
    database, connections, workspace_id = service
    view = await connections.save(
        workspace_id,
        Provider.PONTO,
        {"refresh_token": "rt-secret-1"},
        connected_by="U1",
        external_name="Acme NV",
    )

    loaded, credentials = await connections.load(workspace_id, Provider.PONTO)

    assert credentials == {"refresh_token": "rt-secret-1"}
    assert loaded.state == ConnectionState.ACTIVE and loaded.version == view.version == 1
    async with database.read() as session:
        raw = (await session.execute(select(Connection.credentials))).scalar_one()
    assert "rt-secret-1" not in raw


async def test_compare_and_swap_lets_one_writer_win(service) -> None:  # type: ignore[no-untyped-def]
    _, connections, workspace_id = service
    view = await connections.save(workspace_id, Provider.PONTO, {"refresh_token": "rt-1"}, connected_by="U1")

    results = await asyncio.gather(
        *(
            connections.swap_credentials(view.id, view.version, {"refresh_token": f"rt-{n}"})
            for n in range(2, 7)
        )
    )

    winners = [r for r in results if r is not None]
    assert len(winners) == 1 and winners[0].version == view.version + 1
    _, stored = await connections.load(workspace_id, Provider.PONTO)
    assert stored["refresh_token"] in {f"rt-{n}" for n in range(2, 7)}


async def test_refresh_lock_is_exclusive_until_released_or_expired(service) -> None:  # type: ignore[no-untyped-def]
    _, connections, workspace_id = service
    view = await connections.save(workspace_id, Provider.PONTO, {}, connected_by="U1")

    assert await connections.claim_refresh(view.id, "proc-a", dt.timedelta(seconds=30))
    assert not await connections.claim_refresh(view.id, "proc-b", dt.timedelta(seconds=30))
    await connections.release_refresh(view.id, "proc-a")
    assert await connections.claim_refresh(view.id, "proc-b", dt.timedelta(seconds=-1))  # already lapsed
    assert await connections.claim_refresh(view.id, "proc-c", dt.timedelta(seconds=30))


async def test_disconnect_deletes_credentials_and_stops_syncing(service) -> None:  # type: ignore[no-untyped-def]
    _, connections, workspace_id = service
    await connections.save(workspace_id, Provider.YUKI, {"access_key": "k"}, connected_by="U1")
    await connections.save(workspace_id, Provider.PONTO, {"refresh_token": "r"}, connected_by="U1")
    ponto = await connections.find(workspace_id, Provider.PONTO)
    assert ponto is not None
    await connections.mark(ponto.id, ConnectionState.NEEDS_REAUTH, error_code="invalid_grant")

    view = await connections.disconnect(workspace_id, Provider.YUKI)

    assert view is not None and view.state == ConnectionState.DISCONNECTED
    with pytest.raises(NotConnected):
        await connections.load(workspace_id, Provider.YUKI)
    assert await connections.active() == [], "neither a disconnected nor a needs-reauth connection is synced"

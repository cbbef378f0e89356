"""The sync runner: one run at a time per connection, every run recorded, failures become states and alerts.

The Syncer here is a scripted stand-in for a provider (Ponto and Yuki have their own tests); what is
under test is the runner around it, on a real database.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Callable

import pytest
from sqlalchemy import select

from bot.clock import SystemClock
from bot.domain import ConnectionState, Provider, SyncOutcome
from bot.errors import ProviderUnavailable, ReauthRequired
from bot.features.alerts import AlertService
from bot.features.sync.runner import SyncResult, SyncService
from bot.providers.base import SyncRun
from bot.providers.connections import ConnectionService, ConnectionView
from storage.crypto import SecretBox, generate_key
from storage.database import Database
from storage.models import SyncRun as SyncRunRow
from storage.workspaces import ensure_workspace


class ScriptedSyncer:
    """Plays back a list of behaviours, one per run."""

    provider = Provider.PONTO

    def __init__(self, *steps: Callable[[SyncRun], object]) -> None:
        self.steps = list(steps)
        self.started = asyncio.Event()
        self.release = asyncio.Event()
        self.release.set()

    async def sync(self, connection: ConnectionView, run: SyncRun) -> None:
        self.started.set()
        await self.release.wait()
        step = self.steps.pop(0)
        outcome = step(run)
        if isinstance(outcome, Exception):
            raise outcome


def fetched(n: int) -> Callable[[SyncRun], object]:
    def step(run: SyncRun) -> None:
        run.fetched, run.written, run.api_calls = n, n, 2

    return step


def fails(error: Exception) -> Callable[[SyncRun], object]:
    return lambda run: error


@pytest.fixture
async def world(database_url: str):  # type: ignore[no-untyped-def]
    database = Database(database_url, clock=SystemClock())
    async with database.write() as session:
        workspace = await ensure_workspace(session, "T1", timezone="Europe/Brussels")
    connections = ConnectionService(database, SecretBox([generate_key()]), clock=database.clock)
    await connections.save(workspace.id, Provider.PONTO, {"refresh_token": "r"}, connected_by="U1")
    alerts = AlertService(database, clock=database.clock)
    yield database, connections, alerts, workspace.id
    await database.dispose()


async def runs(database: Database) -> list[SyncRunRow]:
    async with database.read() as session:
        return list((await session.execute(select(SyncRunRow).order_by(SyncRunRow.id))).scalars())


async def test_success_is_recorded_with_counts(world) -> None:  # type: ignore[no-untyped-def]
    database, connections, alerts, workspace_id = world
    finished: list[SyncResult] = []
    service = SyncService(
        database, connections, alerts, {Provider.PONTO: ScriptedSyncer(fetched(120))}, clock=database.clock
    )

    async def listener(result: SyncResult) -> None:
        finished.append(result)

    service.on_finished(listener)
    result = await service.run(workspace_id, Provider.PONTO, "manual")

    assert result.outcome == "success" and result.fetched == 120
    (row,) = await runs(database)
    assert (row.outcome, row.items_fetched, row.api_calls, row.trigger) == ("success", 120, 2, "manual")
    assert row.finished_at is not None
    view = await connections.find(workspace_id, Provider.PONTO)
    assert view is not None and view.last_success_at is not None
    assert finished == [result]


async def test_reauth_required_parks_the_connection_and_alerts(world) -> None:  # type: ignore[no-untyped-def]
    database, connections, alerts, workspace_id = world
    error = ReauthRequired("ponto", "refresh token rejected", code="invalid_grant")
    service = SyncService(
        database, connections, alerts, {Provider.PONTO: ScriptedSyncer(fails(error))}, clock=database.clock
    )

    first = await service.run(workspace_id, Provider.PONTO)
    second = await service.run(workspace_id, Provider.PONTO)

    assert first.outcome == "failed" and first.error_code == "invalid_grant"
    assert second.outcome == "needs_reauth", "no retry loop against a dead grant"
    view = await connections.find(workspace_id, Provider.PONTO)
    assert view is not None and view.state == ConnectionState.NEEDS_REAUTH
    (alert,) = await alerts.open_alerts(workspace_id)
    assert alert.kind == "reauth_required" and alert.severity == "error"


async def test_repeated_failures_alert_once_then_recovery_resolves(world) -> None:  # type: ignore[no-untyped-def]
    database, connections, alerts, workspace_id = world
    down = ProviderUnavailable("ponto", "HTTP 503")
    syncer = ScriptedSyncer(fails(down), fails(down), fails(down), fails(down), fetched(3))
    service = SyncService(database, connections, alerts, {Provider.PONTO: syncer}, clock=database.clock)

    outcomes = [await service.run(workspace_id, Provider.PONTO) for _ in range(2)]
    assert await alerts.open_alerts(workspace_id) == [], "a blip is not an alert"
    outcomes += [await service.run(workspace_id, Provider.PONTO) for _ in range(2)]
    (alert,) = await alerts.open_alerts(workspace_id)
    failing = await connections.find(workspace_id, Provider.PONTO)
    recovered = await service.run(workspace_id, Provider.PONTO)

    assert [o.outcome for o in outcomes] == ["failed"] * 4 and recovered.outcome == "success"
    assert alert.kind == "sync_failing" and alert.occurrences == 2
    assert failing is not None and failing.state == ConnectionState.FAILING
    assert await alerts.open_alerts(workspace_id) == []
    view = await connections.find(workspace_id, Provider.PONTO)
    assert view is not None and view.state == ConnectionState.ACTIVE and view.consecutive_failures == 0


async def test_one_run_at_a_time_per_connection(world) -> None:  # type: ignore[no-untyped-def]
    database, connections, alerts, workspace_id = world
    syncer = ScriptedSyncer(fetched(1), fetched(1))
    syncer.release.clear()
    service = SyncService(database, connections, alerts, {Provider.PONTO: syncer}, clock=database.clock)
    other_process = SyncService(database, connections, alerts, {Provider.PONTO: syncer}, clock=database.clock)

    first = asyncio.create_task(service.run(workspace_id, Provider.PONTO))
    await syncer.started.wait()
    second = await other_process.run(workspace_id, Provider.PONTO)
    syncer.release.set()

    assert second.outcome == "already_running"
    assert (await first).outcome == "success"


async def test_a_run_killed_mid_way_is_closed_by_the_next(world) -> None:  # type: ignore[no-untyped-def]
    database, connections, alerts, workspace_id = world
    view = await connections.find(workspace_id, Provider.PONTO)
    assert view is not None
    async with database.write() as session:
        session.add(
            SyncRunRow(
                workspace_id=workspace_id,
                connection_id=view.id,
                provider="ponto",
                trigger="schedule",
                started_at=database.clock.now() - dt.timedelta(minutes=5),
                outcome=SyncOutcome.RUNNING.value,
            )
        )
    service = SyncService(
        database, connections, alerts, {Provider.PONTO: ScriptedSyncer(fetched(5))}, clock=database.clock
    )

    await service.run(workspace_id, Provider.PONTO)

    killed, resumed = await runs(database)
    assert (killed.outcome, killed.error_code) == ("failed", "interrupted")
    assert resumed.outcome == "success"


async def test_run_all_covers_every_active_connection(world) -> None:  # type: ignore[no-untyped-def]
    database, connections, alerts, workspace_id = world
    service = SyncService(
        database, connections, alerts, {Provider.PONTO: ScriptedSyncer(fetched(1))}, clock=database.clock
    )

    results = await service.run_all("schedule")
    none_for_other_team = await service.run_all("schedule", team_id="T-OTHER")

    assert [(r.workspace_id, r.outcome) for r in results] == [(workspace_id, "success")]
    assert none_for_other_team == []


async def test_a_second_run_in_the_same_process_is_turned_away(world) -> None:  # type: ignore[no-untyped-def]
    """The hourly job and a "Sync now" share one SyncService: they must not sync one connection twice."""
    database, connections, alerts, workspace_id = world
    syncer = ScriptedSyncer(fetched(1), fetched(1))
    syncer.release.clear()
    service = SyncService(database, connections, alerts, {Provider.PONTO: syncer}, clock=database.clock)

    first = asyncio.create_task(service.run(workspace_id, Provider.PONTO, "schedule"))
    await syncer.started.wait()
    second = await service.run(workspace_id, Provider.PONTO, "button")
    syncer.release.set()

    assert second.outcome == "already_running"
    assert (await first).outcome == "success"
    assert [r.outcome for r in await runs(database)] == ["success"]


async def test_a_long_run_keeps_its_lease(world) -> None:  # type: ignore[no-untyped-def]
    database, connections, alerts, workspace_id = world
    syncer = ScriptedSyncer(fetched(1), fetched(1))
    syncer.release.clear()
    service = SyncService(
        database,
        connections,
        alerts,
        {Provider.PONTO: syncer},
        lease_ttl=dt.timedelta(seconds=0.3),
        clock=database.clock,
    )
    other_process = SyncService(database, connections, alerts, {Provider.PONTO: syncer}, clock=database.clock)

    first = asyncio.create_task(service.run(workspace_id, Provider.PONTO))
    await syncer.started.wait()
    await asyncio.sleep(0.8)  # well past the lease's 0.3 s: only renewal keeps it
    second = await other_process.run(workspace_id, Provider.PONTO)
    syncer.release.set()

    assert second.outcome == "already_running"
    assert (await first).outcome == "success"


class CredentialReader:
    """A syncer that, like every provider's, starts by decrypting the stored credentials."""

    provider = Provider.PONTO

    def __init__(self, connections: ConnectionService) -> None:
        self.connections = connections

    async def sync(self, connection: ConnectionView, run: SyncRun) -> None:
        await self.connections.load(connection.workspace_id, connection.provider)


async def test_an_unreadable_secret_fails_the_sync_and_raises_an_alert(world) -> None:  # type: ignore[no-untyped-def]
    database, _, alerts, workspace_id = world
    # The process now runs with a different key: the credentials saved under the old one are unreadable.
    rekeyed = ConnectionService(database, SecretBox([generate_key()]), clock=database.clock)
    service = SyncService(database, rekeyed, alerts, clock=database.clock)
    service.register(CredentialReader(rekeyed))

    result = await service.run(workspace_id, Provider.PONTO, "schedule")
    again = await service.run(workspace_id, Provider.PONTO, "schedule")

    assert (result.outcome, result.error_code) == (SyncOutcome.FAILED, "secret_unreadable")
    assert again.error_code == "secret_unreadable"
    (alert,) = await alerts.open_alerts(workspace_id)  # raised once, repeated, not duplicated
    assert (alert.kind, alert.severity) == ("secret_unreadable", "error")
    view = await rekeyed.find(workspace_id, Provider.PONTO)
    assert view is not None and view.state == ConnectionState.FAILING

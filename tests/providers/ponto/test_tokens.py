"""Ponto token lifecycle on a real database against the simulator: one refresh however many ask,
across processes; the newest refresh token stored; invalid_grant ends in needs_reauth."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time

import pytest
from sqlalchemy import select

from bot.domain import ConnectionState, Provider
from bot.errors import NotConnected, ProviderUnavailable, ReauthRequired
from bot.providers.http import RetryPolicy
from bot.sandbox.ponto import Failure, PontoSimulator
from storage.crypto import generate_key
from storage.models import Alert, Connection
from tests.ponto_support import PontoWorld, ponto_sim, ponto_world, world

__all__ = ["ponto_sim", "world"]


async def test_a_valid_token_is_used_without_refreshing(world: PontoWorld) -> None:
    client = world.tokens.client(await world.connection())

    await asyncio.gather(*(client.accounts() for _ in range(5)))

    assert world.sim.refreshes == 0


async def test_twenty_concurrent_calls_on_an_expired_token_refresh_once(world: PontoWorld) -> None:
    await world.expire_stored_token()
    before = await world.connection()
    client = world.tokens.client(before)

    results = await asyncio.gather(*(client.accounts() for _ in range(20)))

    assert all(len(accounts) == 5 for accounts in results)
    assert world.sim.refreshes == 1
    after = await world.connection()
    assert after.version == before.version + 1
    assert (await world.stored_credentials())["refresh_token"] == world.sim.live_refresh_tokens()[0]
    assert after.token_expires_at is not None and after.token_expires_at > before.token_expires_at  # type: ignore[operator]


async def test_two_processes_with_twenty_calls_each_refresh_once(
    database_url: str, ponto_sim: PontoSimulator
) -> None:
    key = generate_key()
    async with ponto_world(database_url, ponto_sim, keys=(key,)) as world:
        await world.expire_stored_token()
        before = await world.connection()
        ponto_sim.reset()
        start_at = time.time() + 2.0  # both processes are up and connected by then
        env = {**os.environ, "CASHBOT_TEST_KEY": key}
        args = [database_url, ponto_sim.base_url, str(world.workspace_id), "20", str(start_at)]
        processes = [
            await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "tests.providers.ponto.token_race",
                *args,
                env=env,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
            )
            for _ in range(2)
        ]
        outputs = [await process.communicate() for process in processes]

        reports = [json.loads(out.decode().strip().splitlines()[-1]) for out, _ in outputs]
        assert all(p.returncode == 0 for p in processes), [err.decode()[-2000:] for _, err in outputs]
        assert [r["errors"] for r in reports] == [[], []]
        assert sum(r["ok"] for r in reports) == 40
        assert ponto_sim.refreshes == 1, "exactly one token-endpoint refresh across both processes"
        assert sorted(r["refreshes"] for r in reports) == [0, 1]
        after = await world.connection()
        assert after.version == before.version + 1
        assert (await world.stored_credentials())["refresh_token"] == ponto_sim.live_refresh_tokens()[0]


async def test_invalid_grant_needs_reauth_and_raises_an_alert(world: PontoWorld) -> None:
    await world.expire_stored_token()
    world.sim.fail("token", Failure("invalid_grant"))
    client = world.tokens.client(await world.connection())

    with pytest.raises(ReauthRequired):
        await client.accounts()
    with pytest.raises(ReauthRequired):
        await client.accounts()  # no second attempt at Ponto: a person must reconnect

    assert world.sim.token_requests == ["refresh_token"]
    view = await world.connection()
    assert view.state == ConnectionState.NEEDS_REAUTH and view.last_error_code == "invalid_grant"
    async with world.database.read() as session:
        alerts = (await session.execute(select(Alert))).scalars().all()
    assert [(a.kind, a.dedupe_key, a.state) for a in alerts] == [("reauth_required", "ponto:reauth", "open")]


async def test_a_token_the_api_rejects_is_refreshed_once(world: PontoWorld) -> None:
    world.sim.expire_access_tokens()  # dead at Ponto while our stored expiry still says valid
    client = world.tokens.client(await world.connection())

    accounts = await client.accounts()

    assert len(accounts) == 5
    assert world.sim.refreshes == 1
    assert [c.route for c in world.sim.calls if c.route in ("accounts", "token")] == [
        "accounts",
        "token",
        "accounts",
    ]


async def test_a_refresh_that_times_out_is_not_replayed_blindly(
    database_url: str, ponto_sim: PontoSimulator
) -> None:
    policy = RetryPolicy(attempts=1, deadline=0.5)
    async with ponto_world(database_url, ponto_sim, policy=policy) as world:
        await world.expire_stored_token()
        ponto_sim.reset()
        ponto_sim.fail("token", Failure("rotate_then_hang", seconds=1.0))
        client = world.tokens.client(await world.connection())

        with pytest.raises(ProviderUnavailable):
            await client.accounts()
        view = await world.connection()
        assert ponto_sim.refreshes == 1
        assert view.state == ConnectionState.ACTIVE
        async with world.database.read() as session:
            row = (await session.execute(select(Connection))).scalar_one()
        assert row.refresh_lock_owner is None, "the lock is released for the next attempt"

        # Ponto did rotate; the next caller re-reads, tries once, and learns the grant is gone.
        with pytest.raises(ReauthRequired):
            await client.accounts()
        assert ponto_sim.refreshes == 2
        assert (await world.connection()).state == ConnectionState.NEEDS_REAUTH


async def test_a_disconnected_connection_gives_no_token(world: PontoWorld) -> None:
    tokens = world.tokens.for_connection(await world.connection())
    await world.connections.disconnect(world.workspace_id, Provider.PONTO)

    with pytest.raises(NotConnected):
        await tokens.access_token()
    assert world.sim.refreshes == 0


async def test_a_token_cached_before_a_disconnect_is_not_used_after_it(world: PontoWorld) -> None:
    cached = await world.tokens.for_connection(await world.connection()).access_token()
    await world.connections.disconnect(world.workspace_id, Provider.PONTO)

    tokens = world.tokens.for_connection(await world.connection())  # as the next sync run asks

    with pytest.raises(NotConnected):
        await tokens.access_token()
    assert cached

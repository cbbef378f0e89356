"""The Ponto sync on a real database against the simulator: complete, incremental, resumable.

The database is compared with the simulator's own data after each scenario: every account with
its balance, every transaction exactly once, nothing missing.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import signal
import sys
import zoneinfo
from decimal import Decimal

from sqlalchemy import func, select, update

from bot.domain import ConnectionState, Provider
from bot.providers.ponto.api.client import PAGE_LIMIT
from bot.providers.ponto.plugin import PontoPlugin
from bot.providers.ponto.sync import COMMIT_ROWS, SyncOptions
from bot.sandbox.ponto import Failure, PontoSimulator
from bot.sandbox.server import serve_simulator
from storage.crypto import generate_key
from storage.models import Alert, BankAccount, BankTransaction, JobLease, SyncRun
from tests.harness import AUDIT_KEY
from tests.ponto_support import PontoWorld, ponto_config, ponto_sim, ponto_world, world

__all__ = ["ponto_sim", "world"]


async def stored(world: PontoWorld) -> dict[str, list[str]]:
    """Transaction ids per Ponto account id, as stored (duplicates would show twice)."""
    async with world.database.read() as session:
        rows = await session.execute(
            select(BankAccount.provider_account_id, BankTransaction.provider_transaction_id).join(
                BankTransaction, BankTransaction.account_id == BankAccount.id
            )
        )
        result: dict[str, list[str]] = {}
        for account_id, transaction_id in rows.all():
            result.setdefault(account_id, []).append(transaction_id)
    return result


def assert_matches_ponto(sim: PontoSimulator, ids: dict[str, list[str]]) -> None:
    for account_id, account in sim.accounts.items():
        got = ids.get(account_id, [])
        assert len(got) == len(set(got)), f"duplicates in {account.iban}"
        assert set(got) == {t.id for t in account.transactions}, f"gap or extra rows in {account.iban}"


async def runs(world: PontoWorld) -> list[SyncRun]:
    async with world.database.read() as session:
        return list((await session.execute(select(SyncRun).order_by(SyncRun.id))).scalars())


async def test_first_sync_stores_every_account_and_transaction(world: PontoWorld) -> None:
    result = await world.sync.run(world.workspace_id, Provider.PONTO, "test")

    assert result.outcome == "success"
    assert_matches_ponto(world.sim, await stored(world))
    async with world.database.read() as session:
        accounts = {a.provider_account_id: a for a in (await session.execute(select(BankAccount))).scalars()}
    for account_id, seeded in world.sim.accounts.items():
        account = accounts[account_id]
        assert account.current_balance == seeded.balance
        assert (account.bank_name, account.reference, account.currency) == (
            seeded.bank.name,
            seeded.iban,
            seeded.currency,
        )
        assert account.history_complete and account.sweep_next_url is None
    pages = sum(-(-len(a.transactions) // 100) for a in world.sim.accounts.values())
    assert result.api_calls == 1 + 4 + pages  # accounts, four banks (named once), the pages
    assert (result.fetched, result.written) == (600, 600)
    [run] = await runs(world)
    assert (run.outcome, run.items_written, run.api_calls) == ("success", 600, result.api_calls)
    assert run.finished_at is not None


async def test_amounts_and_dates_are_stored_exactly(world: PontoWorld) -> None:
    await world.sync.run(world.workspace_id, Provider.PONTO)

    account_id = next(iter(world.sim.accounts))
    seeded = {t.id: t for t in world.sim.transactions_of(account_id)}
    async with world.database.read() as session:
        rows = (await session.execute(select(BankTransaction))).scalars().all()
        total = (await session.execute(select(func.sum(BankTransaction.amount)))).scalar_one()
    brussels = zoneinfo.ZoneInfo("Europe/Brussels")
    checked = 0
    for row in rows:
        if row.provider_transaction_id in seeded:
            source = seeded[row.provider_transaction_id]
            assert row.amount == source.amount
            assert row.execution_date == source.execution_date.astimezone(brussels).date()
            assert row.value_date == source.value_date.astimezone(brussels).date()
            assert row.remittance_information == source.remittance_information
            checked += 1
    assert checked == len(seeded)
    expected = sum((t.amount for a in world.sim.accounts.values() for t in a.transactions), Decimal(0))
    assert total == expected, "the sum over the integer column is exact"


async def test_an_unchanged_connection_costs_one_api_call(world: PontoWorld) -> None:
    await world.sync.run(world.workspace_id, Provider.PONTO)
    world.sim.reset()

    result = await world.sync.run(world.workspace_id, Provider.PONTO)

    assert result.outcome == "success"
    assert result.api_calls == 1 and [c.route for c in world.sim.calls] == ["accounts"]
    assert result.written == 0


async def test_new_transactions_are_fetched_incrementally(world: PontoWorld) -> None:
    await world.sync.run(world.workspace_id, Provider.PONTO)
    account_id = next(iter(world.sim.accounts))
    world.sim.add_transactions(account_id, 30)
    world.sim.reset()

    result = await world.sync.run(world.workspace_id, Provider.PONTO)

    assert (result.written, result.api_calls) == (30, 2), "the accounts list and one page of transactions"
    assert_matches_ponto(world.sim, await stored(world))
    async with world.database.read() as session:
        balance = (
            await session.execute(
                select(BankAccount.current_balance).where(BankAccount.provider_account_id == account_id)
            )
        ).scalar_one()
    assert balance == world.sim.accounts[account_id].balance


async def test_a_malformed_page_fails_the_run_and_keeps_what_was_stored(world: PontoWorld) -> None:
    world.sim.fail("transactions", Failure("truncated", after=2))  # pages 1-2 fine, page 3 cut

    failed = await world.sync.run(world.workspace_id, Provider.PONTO)

    assert (failed.outcome, failed.error_code) == ("failed", "malformed_response")
    kept = sum(len(ids) for ids in (await stored(world)).values())
    assert kept == 200, "the two good pages before the bad one are kept, though no batch was full yet"
    [run] = await runs(world)
    assert (run.outcome, run.error_code) == ("failed", "malformed_response")

    completed = await world.sync.run(world.workspace_id, Provider.PONTO)

    assert completed.outcome == "success"
    assert_matches_ponto(world.sim, await stored(world))


async def test_an_unknown_document_type_fails_the_run_without_writing(world: PontoWorld) -> None:
    world.sim.fail("accounts", Failure("unknown_type"))

    failed = await world.sync.run(world.workspace_id, Provider.PONTO)

    assert (failed.outcome, failed.error_code) == ("failed", "malformed_response")
    assert await stored(world) == {}
    assert (await world.connection()).state == ConnectionState.ACTIVE, "one bad answer is not an outage"


async def test_rate_limits_and_server_errors_during_a_sync_are_ridden_out(world: PontoWorld) -> None:
    world.sim.fail("transactions", Failure("ratelimited", after=2, retry_after=4))
    world.sim.fail("transactions", Failure("http_500", times=2))

    result = await world.sync.run(world.workspace_id, Provider.PONTO)

    assert result.outcome == "success"
    assert_matches_ponto(world.sim, await stored(world))
    assert any(delay >= 4 for delay in world.sleeps.delays)


async def test_an_expired_bank_consent_is_a_partial_run_with_an_alert(world: PontoWorld) -> None:
    account_id = next(iter(world.sim.accounts))
    world.sim.expire_consent(account_id)

    result = await world.sync.run(world.workspace_id, Provider.PONTO)

    assert result.outcome == "partial"
    async with world.database.read() as session:
        alerts = (await session.execute(select(Alert))).scalars().all()
    assert [(a.kind, a.dedupe_key) for a in alerts] == [("bank_consent", f"ponto:consent:{account_id}")]
    view = await world.connection()
    assert view.consent_expires_at is not None and view.consent_expires_at < dt.datetime.now(dt.UTC)


async def test_requested_synchronizations_accept_a_recent_one_and_poll_boundedly(world: PontoWorld) -> None:
    world.syncer.options = SyncOptions(request_sync=True, poll_interval=5, max_polls=4)
    first = await world.sync.run(world.workspace_id, Provider.PONTO)
    world.sim.reset()

    second = await world.sync.run(world.workspace_id, Provider.PONTO)

    assert first.outcome == second.outcome == "success"
    posts = [c for c in world.sim.calls if c.route == "synchronizations"]
    assert len(posts) == 10, "two subtypes for each of five accounts, each refused as recent"
    assert world.sim.calls_to("synchronization") == [], "nothing to poll: Ponto's data is used as is"
    async with world.database.read() as session:
        details = (await session.execute(select(SyncRun.details).order_by(SyncRun.id))).scalars().all()
    assert '"requested": 10' in (details[0] or "") and '"recently_synced": 10' in (details[1] or "")
    assert all(delay == 5 for delay in world.sleeps.delays) and len(world.sleeps.delays) <= 4


async def test_an_account_removed_in_ponto_stops_counting(world: PontoWorld) -> None:
    await world.sync.run(world.workspace_id, Provider.PONTO)
    removed = world.sim.accounts.pop(next(iter(world.sim.accounts)))

    await world.sync.run(world.workspace_id, Provider.PONTO)

    async with world.database.read() as session:
        active = dict(
            (await session.execute(select(BankAccount.provider_account_id, BankAccount.active))).all()
        )
    assert active[removed.id] is False and sum(active.values()) == 4


async def test_invalid_grant_during_a_sync_fails_it_and_waits_for_a_person(world: PontoWorld) -> None:
    await world.expire_stored_token()
    world.sim.fail("token", Failure("invalid_grant"))

    result = await world.sync.run(world.workspace_id, Provider.PONTO)
    again = await world.sync.run(world.workspace_id, Provider.PONTO)

    assert (result.outcome, result.error_code) == ("failed", "invalid_grant")
    assert again.outcome == "needs_reauth"
    assert (await world.connection()).state == ConnectionState.NEEDS_REAUTH


# ---- a sync killed with SIGKILL half-way, completed by the next run ---------------------------------
async def count_rows(world: PontoWorld) -> int:
    async with world.database.read() as session:
        return int((await session.execute(select(func.count()).select_from(BankTransaction))).scalar_one())


async def kill_cashbot_sync_after(world: PontoWorld, key: str, rows_at_least: int) -> int:
    """Run `cashbot sync` in its own process; SIGKILL it once `rows_at_least` rows are committed."""
    env = {
        **os.environ,
        "DATABASE_URL": world.database.url,
        "CASHBOT_ENCRYPTION_KEYS": key,
        "CASHBOT_AUDIT_KEY": AUDIT_KEY,
        "PONTO_CLIENT_ID": "ponto-sandbox-client",
        "PONTO_CLIENT_SECRET": "ponto-sandbox-secret",
        "PONTO_API_URL": world.sim.base_url,
        "PONTO_AUTHORIZATION_URL": world.sim.base_url + "/oauth2/auth",
        "LOG_LEVEL": "ERROR",
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot.app.cli",
        "sync",
        env=env,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        async with asyncio.timeout(60):
            while await count_rows(world) < rows_at_least:
                assert process.returncode is None, "cashbot sync ended before it could be killed"
                await asyncio.sleep(0.02)
    finally:
        process.send_signal(signal.SIGKILL)
        await process.wait()
    await lapse_sync_leases(world)
    return await count_rows(world)


async def lapse_sync_leases(world: PontoWorld) -> None:
    """The killed process cannot release its sync lease; let it lapse (its TTL passing)."""
    async with world.database.write() as session:
        await session.execute(
            update(JobLease)
            .where(JobLease.name.like("sync:%"))
            .values(expires_at=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1))
        )


async def test_a_backfill_killed_half_way_is_completed_by_the_next_run(database_url: str) -> None:
    key = generate_key()
    total = 2 * COMMIT_ROWS + 500  # the killed run commits once or twice, never all
    async with (
        serve_simulator(PontoSimulator(transactions=[total, 0, 0, 0, 0])) as sim,
        ponto_world(database_url, sim, keys=(key,)) as world,
    ):
        sim.fail("transactions", Failure("slow", seconds=0.01, times=10_000))

        at_kill = await kill_cashbot_sync_after(world, key, COMMIT_ROWS)

        assert COMMIT_ROWS <= at_kill < total
        result = await world.sync.run(world.workspace_id, Provider.PONTO)
        assert result.outcome == "success"
        assert_matches_ponto(sim, await stored(world))
        [killed, completed] = await runs(world)
        assert (killed.outcome, killed.error_code) == ("failed", "interrupted")
        assert (completed.outcome, completed.items_written) == ("success", total - at_kill)
        assert result.written == total - at_kill, "the next run fetched what was missing, nothing twice"


async def test_an_incremental_sync_killed_after_its_newest_rows_leaves_no_gap(database_url: str) -> None:
    key = generate_key()
    async with (
        serve_simulator(PontoSimulator(transactions=[500, 0, 0, 0, 0])) as sim,
        ponto_world(database_url, sim, keys=(key,)) as world,
    ):
        await world.sync.run(world.workspace_id, Provider.PONTO)
        account_id = next(iter(sim.accounts))
        added = 2 * COMMIT_ROWS + 500
        sim.add_transactions(account_id, added)
        sim.fail("transactions", Failure("slow", seconds=0.01, times=10_000))

        at_kill = await kill_cashbot_sync_after(world, key, 500 + COMMIT_ROWS)

        assert 500 + COMMIT_ROWS <= at_kill < 500 + added, (
            "the newest new rows are stored, older new ones not"
        )
        sim.reset()
        result = await world.sync.run(world.workspace_id, Provider.PONTO)
        assert result.outcome == "success"
        assert_matches_ponto(sim, await stored(world))
        assert result.written == 500 + added - at_kill


async def test_a_sync_failing_after_a_disconnect_leaves_the_connection_disconnected(
    world: PontoWorld,
) -> None:
    world.sim.fail("transactions", Failure("slow", seconds=0.05, times=1000))
    plugin = PontoPlugin(
        ponto_config(world.sim.base_url),
        world.gateway,
        world.connections,
        world.database,
        clock=world.database.clock,
    )
    running = asyncio.create_task(world.sync.run(world.workspace_id, Provider.PONTO))
    while not world.sim.calls_to("transactions"):
        await asyncio.sleep(0.01)

    disconnected = await plugin.disconnect(world.workspace_id)  # revokes at Ponto: the sync's token dies
    result = await running

    assert disconnected.revoked_at_provider is True
    assert result.outcome == "failed"
    view = await world.connection()
    assert view.state == ConnectionState.DISCONNECTED, (
        "a failing sync must not revive a disconnected connection"
    )
    assert await world.connections.active() == []


async def test_disk_full_mid_sync_keeps_a_consistent_database_and_the_next_run_completes(
    database_url: str, ponto_sim: PontoSimulator
) -> None:
    """SQLite's max_page_count gives SQLITE_FULL at a chosen size, as a full disk would."""
    import pytest
    from sqlalchemy import event, text

    async with ponto_world(database_url, ponto_sim, options=SyncOptions(commit_rows=100)) as full:
        if not full.database.is_sqlite:
            pytest.skip("SQLite's page cap stands in for a full disk")
        async with full.database.read() as session:
            pages = int((await session.execute(text("PRAGMA page_count"))).scalar_one())

        def cap(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
            cursor = dbapi_connection.cursor()
            cursor.execute(f"PRAGMA max_page_count={pages + 12}")
            cursor.close()

        event.listen(full.database.engine.sync_engine, "connect", cap)
        await full.database.engine.dispose()
        failed = await full.sync.run(full.workspace_id, Provider.PONTO, "test")
        event.remove(full.database.engine.sync_engine, "connect", cap)
        await full.database.engine.dispose()

        partial = await stored(full)
        async with full.database.read() as session:
            integrity = (await session.execute(text("PRAGMA integrity_check"))).scalar_one()
        resumed = await full.sync.run(full.workspace_id, Provider.PONTO, "test")

        assert failed.outcome == "failed" and failed.error_code == "storage_unavailable"
        assert integrity == "ok"
        assert 0 < sum(len(ids) for ids in partial.values()) < 600, (
            "some batches landed before the disk filled"
        )
        assert all(len(ids) == len(set(ids)) for ids in partial.values())
        assert resumed.outcome == "success"
        assert_matches_ponto(full.sim, await stored(full))


def below_the_first_page(world: PontoWorld, account_id: str) -> int:
    """Days back at which a booking lands on the second page of a newest-first sweep."""
    transactions = world.sim.accounts[account_id].transactions
    first_page_ends = transactions[-PAGE_LIMIT].execution_date
    return (world.database.clock.now() - first_page_ends).days + 3


async def test_a_late_booking_within_the_look_back_is_stored_without_a_requested_synchronization(
    world: PontoWorld,
) -> None:
    await world.sync.run(world.workspace_id, Provider.PONTO)
    account_id = next(iter(world.sim.accounts))
    world.sim.add_transactions(account_id, 3)  # newer bookings: the sweep meets stored ones below
    days_back = below_the_first_page(world, account_id)
    late = world.sim.book_late(account_id, days_back=days_back)
    world.syncer.options = SyncOptions(late_booking_days=days_back + 20)

    result = await world.sync.run(world.workspace_id, Provider.PONTO)

    assert result.outcome == "success"
    assert late.id in (await stored(world))[account_id], "within the look-back, though not on page one"


async def test_without_a_look_back_the_sweep_stops_at_the_first_stored_transaction(
    world: PontoWorld,
) -> None:
    await world.sync.run(world.workspace_id, Provider.PONTO)
    account_id = next(iter(world.sim.accounts))
    world.sim.add_transactions(account_id, 3)
    late = world.sim.book_late(account_id, days_back=below_the_first_page(world, account_id))
    world.syncer.options = SyncOptions(late_booking_days=0)

    await world.sync.run(world.workspace_id, Provider.PONTO)

    assert late.id not in (await stored(world))[account_id]


async def test_a_late_booking_with_an_older_date_is_stored_from_the_updated_transactions(
    world: PontoWorld,
) -> None:
    await world.sync.run(world.workspace_id, Provider.PONTO)
    account_id = next(iter(world.sim.accounts))
    world.sim.add_transactions(account_id, 3)  # newer bookings: the sweep stops below them
    late = world.sim.book_late(account_id, days_back=700)
    world.syncer.options = SyncOptions(request_sync=True, poll_interval=0, max_polls=4)

    result = await world.sync.run(world.workspace_id, Provider.PONTO)

    assert result.outcome == "success"
    ids = await stored(world)
    assert late.id in ids[account_id]
    assert_matches_ponto(world.sim, ids)


async def test_the_updated_transactions_link_may_be_an_href_object(world: PontoWorld) -> None:
    await world.sync.run(world.workspace_id, Provider.PONTO)
    account_id = next(iter(world.sim.accounts))
    world.sim.updated_link_shape = "href"
    late = world.sim.book_late(account_id, days_back=690)
    world.syncer.options = SyncOptions(request_sync=True, poll_interval=0, max_polls=4)

    await world.sync.run(world.workspace_id, Provider.PONTO)

    assert late.id in (await stored(world))[account_id]


async def test_a_400_mb_answer_is_refused_while_it_is_read(world: PontoWorld) -> None:
    await world.sync.run(world.workspace_id, Provider.PONTO)
    before = await stored(world)
    world.sim.fail("accounts", Failure("huge", size=40 * 1024 * 1024))

    result = await world.sync.run(world.workspace_id, Provider.PONTO)

    assert (result.outcome, result.error_code) == ("failed", "too_large")
    assert await stored(world) == before

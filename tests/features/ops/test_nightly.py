"""The worker's nightly ops jobs: backups with retention, the restore drill, audit verify, posted once."""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.clock import ManualClock
from bot.features.audit.trail import AuditTrail
from bot.features.ops.nightly import NightlyPlan, kept, newest_backup, prune_backups
from bot.sandbox.slack import DEFAULT_TEAM, SlackSimulator
from tests.harness import BotUnderTest, bot_settings, running_bot

OPS = "C0OPS"
SUNDAY_NIGHT = dt.datetime(2026, 12, 6, 1, 0, tzinfo=dt.UTC)  # 02:00 in Brussels, before the hour


@pytest.fixture
async def ops_bot(
    database_url: str, slack_sim: SlackSimulator, tmp_path: Path
) -> AsyncIterator[BotUnderTest]:
    settings = bot_settings(database_url, slack_sim, ops_channel=OPS, backup_dir=str(tmp_path / "backups"))
    async with running_bot(settings, slack_sim, clock=ManualClock(SUNDAY_NIGHT)) as bot:
        await bot.runtime.services.workspaces.workspace_id(DEFAULT_TEAM)
        yield bot


def ops_posts(bot: BotUnderTest) -> list[str]:
    return [str(message.get("text")) for message in bot.sim.posted(OPS)]


async def night(bot: BotUnderTest) -> None:
    await bot.runtime.ops.tick()
    await bot.runtime.digest.sender.drain()


async def test_nightly_jobs_run_on_the_moved_clock_and_post_once(
    ops_bot: BotUnderTest, tmp_path: Path
) -> None:
    clock = ops_bot.runtime.core.clock
    assert isinstance(clock, ManualClock)
    await night(ops_bot)
    assert ops_posts(ops_bot) == [], "before CASHBOT_NIGHTLY_HOUR nothing runs"

    clock.advance(dt.timedelta(hours=1, minutes=30))  # 03:30 local, a Sunday
    await night(ops_bot)
    await night(ops_bot)  # a second tick the same night, as the worker does every 5 minutes

    posts = ops_posts(ops_bot)
    assert len(posts) == 4, posts
    assert "Nightly backup cashbot-20261206T023000Z" in posts[0]
    assert "Restore drill of cashbot-20261206T023000Z" in posts[1] and "passed" in posts[1]
    assert "Audit trail intact" in posts[2]
    assert "Retention: 0 transactions" in posts[3]
    assert (tmp_path / "backups" / "cashbot-20261206T023000Z.db").exists() or (
        tmp_path / "backups" / "cashbot-20261206T023000Z.dump"
    ).exists()

    clock.advance(dt.timedelta(days=1))  # Monday: backup and audit verify, no drill
    await night(ops_bot)
    assert len(ops_posts(ops_bot)) == 7
    assert not any("Restore drill" in text for text in ops_posts(ops_bot)[4:])


async def test_corrupted_backup_fails_the_drill_as_an_alert(ops_bot: BotUnderTest, tmp_path: Path) -> None:
    clock = ops_bot.runtime.core.clock
    assert isinstance(clock, ManualClock)
    clock.advance(dt.timedelta(days=-1, hours=1, minutes=30))  # Saturday night: a backup, no drill
    await night(ops_bot)
    newest = newest_backup(tmp_path / "backups")
    assert newest is not None
    data = bytearray(newest.read_bytes())
    data[len(data) // 2] ^= 0xFF
    newest.write_bytes(bytes(data))

    clock.advance(dt.timedelta(days=1, seconds=-60))  # Sunday 03:29: the drill finds the corrupted one
    await bot_drill_only(ops_bot)

    drill = [text for text in ops_posts(ops_bot) if "Restore drill" in text]
    assert len(drill) == 1
    assert "ALERT" in drill[0] and "FAILED file matches its checksum" in drill[0]


async def bot_drill_only(bot: BotUnderTest) -> None:
    """Sunday's tick, with that night's backup already taken (so the drill sees the corrupted file)."""
    clock = bot.runtime.core.clock
    day = clock.now().astimezone(dt.timezone(dt.timedelta(hours=1))).date().isoformat()
    from storage.leases import acquire_or_renew

    await acquire_or_renew(bot.runtime.core.database, f"ops:backup:{day}", "test", dt.timedelta(days=2))
    await night(bot)


async def test_backup_under_50_writes_a_second_restores_and_passes_the_drill(ops_bot: BotUnderTest) -> None:
    runtime = ops_bot.runtime
    audit = AuditTrail(runtime.core.database, runtime.core.settings.audit_key or "", clock=runtime.core.clock)
    stop = asyncio.Event()
    written = 0

    async def writer() -> None:
        nonlocal written
        started = time.monotonic()
        while not stop.is_set():
            await audit.record(team_id=DEFAULT_TEAM, actor="U1", action=f"view.cash.{written}")
            written += 1
            await asyncio.sleep(max(0.0, started + written / 50 - time.monotonic()))

    task = asyncio.create_task(writer())
    await asyncio.sleep(0.5)
    backup, manifest = await runtime.ops._backups.backup(Path(runtime.core.settings.backup_dir))
    await asyncio.sleep(0.5)
    stop.set()
    await task

    report = await runtime.ops._backups.verify(backup)
    assert report.ok, [(c.name, c.detail) for c in report.checks if not c.ok]
    assert 0 < manifest.row_counts["audit_event"] < written + 2, "a snapshot taken mid-stream"
    assert written >= 40


def test_retention_keeps_seven_daily_and_four_weekly(tmp_path: Path) -> None:
    start = dt.datetime(2026, 9, 1, 2, 30, tzinfo=dt.UTC)
    stamps = [start + dt.timedelta(days=n) for n in range(60)]
    for stamp in stamps:
        name = f"cashbot-{stamp:%Y%m%dT%H%M%SZ}.db"
        (tmp_path / name).write_bytes(b"x")
        (tmp_path / f"{name}.manifest.json").write_text("{}")

    removed = prune_backups(tmp_path, NightlyPlan(folder=tmp_path, timezone="UTC"))

    left = sorted(p.name for p in tmp_path.iterdir() if not p.name.endswith(".json"))
    assert removed == 60 - len(left)
    assert len(kept(stamps, 7, 4)) == len(left) <= 11
    assert left[-1] == f"cashbot-{stamps[-1]:%Y%m%dT%H%M%SZ}.db"
    assert len(list(tmp_path.glob("*.manifest.json"))) == len(left), "manifests go with their backups"


async def test_transactions_older_than_the_retention_are_purged_nightly(ops_bot: BotUnderTest) -> None:
    from decimal import Decimal

    from sqlalchemy import func, select

    from bot.domain import Provider
    from storage.models import BankTransaction
    from tests.features.cash_data import Account, add_account, add_transactions, connect

    database = ops_bot.runtime.core.database
    workspace_id = await ops_bot.runtime.services.workspaces.workspace_id(DEFAULT_TEAM)
    connection = await connect(database, workspace_id, Provider.PONTO)
    account = await add_account(database, workspace_id, connection, Account("KBC", "BE1", "EUR", Decimal(1)))
    days = [dt.date(2024, 12, 5), dt.date(2024, 12, 6), dt.date(2024, 12, 7), dt.date(2026, 12, 1)]
    await add_transactions(database, account, "EUR", [(day, Decimal(10)) for day in days])
    clock = ops_bot.runtime.core.clock
    assert isinstance(clock, ManualClock)

    clock.advance(dt.timedelta(hours=1, minutes=30))  # 2026-12-06 03:30 local: 24 months = 2024-12-06
    await night(ops_bot)

    async with database.read() as session:
        left = (await session.scalars(select(BankTransaction.execution_date))).all()
        count = await session.scalar(select(func.count()).select_from(BankTransaction))
    assert sorted(left) == days[1:] and count == 3
    assert any("Retention: 1 transactions executed before 2024-12-06" in t for t in ops_posts(ops_bot))


async def test_a_job_cut_off_by_a_stop_runs_again_that_night_and_posts_once(
    ops_bot: BotUnderTest, tmp_path: Path
) -> None:
    clock = ops_bot.runtime.core.clock
    assert isinstance(clock, ManualClock)
    clock.advance(dt.timedelta(hours=1, minutes=30))  # 03:30 local, a Sunday
    backups = tmp_path / "backups"
    cut_off = asyncio.create_task(ops_bot.runtime.ops.tick())
    while not (backups.is_dir() and any(backups.iterdir())):  # the backup is being written
        await asyncio.sleep(0)
    cut_off.cancel()  # the worker is stopped mid-job (a deploy during the backup)
    with pytest.raises(asyncio.CancelledError):
        await cut_off

    clock.advance(dt.timedelta(hours=2, minutes=5))  # the next ticks that night
    await night(ops_bot)
    await night(ops_bot)

    posts = ops_posts(ops_bot)
    assert [p.split()[1] for p in posts] == ["Nightly", "Restore", "Audit", "Retention:"], posts

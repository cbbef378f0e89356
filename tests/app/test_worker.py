"""Workers: exactly one leader runs the jobs; a standby takes over when the leader stops or dies."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections import Counter
from pathlib import Path

import pytest

from bot.app.worker import PeriodicJob, Worker
from bot.clock import SystemClock
from storage.database import Database
from storage.migrate import upgrade_to_head


async def wait_until(condition, within: float = 5.0) -> None:  # type: ignore[no-untyped-def]
    async with asyncio.timeout(within):
        while not condition():
            await asyncio.sleep(0.05)


def counting_job(runs: Counter[str], owner: str) -> PeriodicJob:
    async def run() -> None:
        runs[owner] += 1

    return PeriodicJob(f"count-{owner}", 0.1, run)


async def test_one_leader_runs_jobs_and_a_standby_takes_over(database_url: str) -> None:
    database = Database(database_url, clock=SystemClock())
    runs: Counter[str] = Counter()
    ttl = dt.timedelta(seconds=1)
    first = Worker(database, [counting_job(runs, "a")], owner="a", lease_ttl=ttl, renew_every=0.2)
    second = Worker(database, [counting_job(runs, "b")], owner="b", lease_ttl=ttl, renew_every=0.2)
    await first.start()
    await wait_until(lambda: first.is_leader)
    await second.start()
    await asyncio.sleep(0.6)  # three renewals of the standby: long enough for it to wrongly take over

    assert first.is_leader and not second.is_leader
    assert runs["a"] > 0 and runs["b"] == 0

    await first.stop()
    await wait_until(lambda: second.is_leader)
    before = runs["b"]
    await wait_until(lambda: runs["b"] > before)
    await second.stop()
    await database.dispose()

    assert runs["b"] > before


async def test_a_dead_leader_is_replaced_once_its_lease_lapses(database_url: str) -> None:
    database = Database(database_url, clock=SystemClock())
    runs: Counter[str] = Counter()
    ttl = dt.timedelta(seconds=0.5)
    dead = Worker(database, [], owner="dead", lease_ttl=ttl, renew_every=0.1)
    await dead.start()
    await wait_until(lambda: dead.is_leader)
    dead._scheduler.shutdown(wait=False)  # dies without releasing its lease (kill -9)

    standby = Worker(
        database, [counting_job(runs, "standby")], owner="standby", lease_ttl=ttl, renew_every=0.1
    )
    await standby.start()
    await wait_until(lambda: standby.is_leader, within=3)
    await wait_until(lambda: runs["standby"] > 0)
    await standby.stop()
    await database.dispose()

    assert runs["standby"] > 0


async def test_a_failing_job_is_logged_and_runs_again_while_the_others_go_on(
    database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    database = Database(database_url, clock=SystemClock())
    runs: Counter[str] = Counter()

    async def broken() -> None:
        runs["broken"] += 1
        raise RuntimeError("the job broke")

    worker = Worker(
        database, [PeriodicJob("broken", 0.1, broken), counting_job(runs, "ok")], owner="w", renew_every=0.2
    )
    caplog.set_level(logging.ERROR, logger="bot.app.worker")

    def failures() -> list[logging.LogRecord]:
        # Only the broken job's: a stop under load may also cancel a lease renewal, logged too.
        return [
            record
            for record in caplog.records
            if record.getMessage() == "worker.job_failed" and record.__dict__["job"] == "broken"
        ]

    await worker.start()
    await wait_until(lambda: len(failures()) >= 2 and runs["ok"] >= 2)  # it failed, ran again, failed
    await worker.stop()
    await database.dispose()

    assert all("the job broke" in record.__dict__["error"] for record in failures())
    assert runs["broken"] >= 2


async def test_a_leader_whose_database_goes_away_loses_the_lease_and_runs_nothing(tmp_path: Path) -> None:
    # A SQLite file of its own on either backend: the "outage" is its folder disappearing.
    folder = tmp_path / "data"
    folder.mkdir()
    database = Database(f"sqlite+aiosqlite:///{folder / 'cashbot.db'}", clock=SystemClock())
    await upgrade_to_head(database)
    runs: Counter[str] = Counter()
    worker = Worker(
        database, [counting_job(runs, "a")], owner="a", lease_ttl=dt.timedelta(seconds=1), renew_every=0.1
    )
    await worker.start()
    await wait_until(lambda: worker.is_leader and runs["a"] > 0)

    await database.dispose()  # drop pooled connections: the next renewal must open the file again
    folder.rename(tmp_path / "gone")
    await wait_until(lambda: not worker.is_leader)
    stopped_at = runs["a"]
    await asyncio.sleep(0.4)  # four job intervals
    assert runs["a"] == stopped_at, "a worker without the lease must not run jobs"

    (tmp_path / "gone").rename(folder)
    await wait_until(lambda: worker.is_leader)  # storage is back: it takes the lease again
    await worker.stop()
    await database.dispose()

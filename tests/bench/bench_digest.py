"""Benchmark: the Monday digests of many workspaces, composed, charted and sent through the Slack simulator.

    .venv/bin/python -m tests.bench.bench_digest [--workspaces 1000] [--chart-processes N]

Each workspace has its own channel, 5 bank accounts, 2,000 transactions and 300 open items,
written straight into a fresh migrated database (SQLite file by default). The clock is moved to
Monday 08:00 in Brussels; then, timed, one worker's two jobs run until the outbox is empty: the
digest tick (compose, render, chart, enqueue: one message and one chart per workspace) and the
outbox drain (paced per channel). The Slack simulator runs in this process and refuses (429,
Retry-After) any post that comes less than a second after the previous one in its channel.

Prints: seconds (tick and drain apart), messages a second, peak RSS, duplicates (a key posted
more than once), 429s answered by the simulator, and rows not sent. Target: ≤ 60 s for 1,000.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import random
import resource
import tempfile
import time
from collections import Counter
from decimal import Decimal
from pathlib import Path

from sqlalchemy import func, insert, select

from bot.app.digest import DigestParts
from bot.app.wiring import build_runtime
from bot.clock import ManualClock
from bot.config import Settings
from bot.sandbox.server import serve_simulator
from bot.sandbox.slack import SlackSimulator
from storage.crypto import generate_key
from storage.database import Database
from storage.migrate import upgrade_to_head
from storage.models import BankAccount, BankTransaction, Connection, OpenItem, OutboxMessage, Workspace

MONDAY_EIGHT = dt.datetime(2027, 6, 7, 6, 0, tzinfo=dt.UTC)  # 08:00 in Brussels
AS_OF = dt.date(2027, 6, 7)
ACCOUNTS, TRANSACTIONS, ITEMS = 5, 2000, 300


def workspace_rows(count: int) -> list[dict[str, object]]:
    since = MONDAY_EIGHT - dt.timedelta(days=7)
    return [
        {
            "id": n + 1,
            "team_id": f"T{n:07d}",
            "timezone": "Europe/Brussels",
            "digest_enabled": True,
            "digest_channel_id": f"C{n:07d}",
            "digest_weekday": 0,
            "digest_time": "08:00",
            "digest_since": since,
            "created_at": since,
        }
        for n in range(count)
    ]


async def seed(database: Database, count: int) -> None:
    """Rows as the syncs leave them; connections not active, so the tick's syncs have nothing to do."""
    rng = random.Random(11)
    async with database.write() as session:
        await session.execute(insert(Workspace), workspace_rows(count))
        await session.execute(
            insert(Connection),
            [
                {
                    "id": w + 1,
                    "workspace_id": w + 1,
                    "provider": "ponto",
                    "state": "disconnected",
                    "created_at": MONDAY_EIGHT,
                    "updated_at": MONDAY_EIGHT,
                    "last_success_at": MONDAY_EIGHT,
                }
                for w in range(count)
            ],
        )
        await session.execute(
            insert(BankAccount),
            [
                {
                    "id": w * ACCOUNTS + a + 1,
                    "workspace_id": w + 1,
                    "connection_id": w + 1,
                    "provider_account_id": f"acc-{w}-{a}",
                    "bank_name": "KBC",
                    "reference": f"BE68539007547{a:03d}",
                    "reference_type": "IBAN",
                    "currency": "EUR",
                    "current_balance": Decimal(rng.randint(10_000, 900_000)),
                    "synced_at": MONDAY_EIGHT,
                    "fetched_at": MONDAY_EIGHT,
                    "active": True,
                    "history_complete": True,
                    "created_at": MONDAY_EIGHT,
                    "updated_at": MONDAY_EIGHT,
                }
                for w in range(count)
                for a in range(ACCOUNTS)
            ],
        )
    for w in range(count):
        await database.insert_rows(BankTransaction.__table__, transactions(rng, w))  # type: ignore[arg-type]
        await database.insert_rows(OpenItem.__table__, items(rng, w))  # type: ignore[arg-type]


def transactions(rng: random.Random, w: int) -> list[dict[str, object]]:
    rows = []
    for n in range(TRANSACTIONS):
        day = AS_OF - dt.timedelta(days=rng.randint(0, 120))
        rows.append(
            {
                "account_id": w * ACCOUNTS + n % ACCOUNTS + 1,
                "provider_transaction_id": f"tx-{w}-{n}",
                "amount": Decimal(rng.randint(-500_000, 600_000)) / 100,
                "currency": "EUR",
                "execution_date": day,
                "value_date": day,
                "counterpart_name": f"Counterpart {n % 97}",
                "created_at": MONDAY_EIGHT,
            }
        )
    return rows


def items(rng: random.Random, w: int) -> list[dict[str, object]]:
    rows = []
    for n in range(ITEMS):
        due = AS_OF + dt.timedelta(days=rng.randint(-150, 40))
        amount = Decimal(rng.randint(5_000, 900_000)) / 100
        rows.append(
            {
                "workspace_id": w + 1,
                "connection_id": w + 1,
                "kind": "receivable" if n % 4 else "payable",
                "provider_item_id": f"item-{w}-{n}",
                "contact_name": f"Customer {n % 60}",
                "reference": f"VF{n}",
                "due_date": due,
                "item_date": due - dt.timedelta(days=30),
                "open_amount": amount,
                "original_amount": amount,
                "currency": "EUR",
                "status": "open",
                "first_seen_at": MONDAY_EIGHT,
                "last_seen_at": MONDAY_EIGHT,
            }
        )
    return rows


async def run(count: int, database_url: str | None, chart_processes: int) -> None:
    with tempfile.TemporaryDirectory(prefix="bench-digest-") as workdir:
        url = database_url or f"sqlite+aiosqlite:///{Path(workdir) / 'bench.db'}"
        async with serve_simulator(SlackSimulator()) as sim:
            database = Database(url, clock=ManualClock(MONDAY_EIGHT))
            await upgrade_to_head(database)
            started = time.perf_counter()
            await seed(database, count)
            print(f"seeded {count} workspaces in {time.perf_counter() - started:.1f} s")
            await database.dispose()
            await measure(sim, url, count, chart_processes)


async def measure(sim: SlackSimulator, url: str, count: int, chart_processes: int) -> None:
    settings = Settings(
        slack_signing_secret="bench",
        slack_bot_token=sim.issue_bot_token(),
        slack_api_url=sim.base_url + "/api/",
        database_url=url,
        encryption_keys=(generate_key(),),
        audit_key="bench-audit-key-0123456789abcdef",
        log_level="WARNING",
        chart_processes=chart_processes,
    )
    clock = ManualClock(MONDAY_EIGHT)
    runtime = build_runtime(settings, web=False, clock=clock)
    parts: DigestParts = runtime.digest
    sim.per_channel_interval = 1.0
    try:
        started = time.perf_counter()
        report = await parts.runner.tick()
        ticked = time.perf_counter()
        while await pending(runtime.core.database):
            await parts.sender.drain()
            clock.advance(dt.timedelta(seconds=1))  # what a lapse of Retry-After would let through
        finished = time.perf_counter()
        await summarise(sim, runtime.core.database, count, len(report.enqueued), started, ticked, finished)
    finally:
        await runtime.aclose()


async def pending(database: Database) -> int:
    async with database.read() as session:
        return int(
            await session.scalar(
                select(func.count())
                .select_from(OutboxMessage)
                .where(OutboxMessage.state.in_(("pending", "sending")))
            )
            or 0
        )


async def summarise(
    sim: SlackSimulator,
    database: Database,
    count: int,
    enqueued: int,
    started: float,
    ticked: float,
    finished: float,
) -> None:
    keys = Counter(
        m["metadata"]["event_payload"]["key"]
        for messages in sim.messages.values()
        for m in messages
        if m.get("metadata")
    )
    charts = sum(len(f["channels"]) for f in sim.files.values())
    messages = sum(keys.values()) + charts
    async with database.read() as session:
        states = dict(
            (
                await session.execute(select(OutboxMessage.state, func.count()).group_by(OutboxMessage.state))
            ).all()
        )
    total = finished - started
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"workspaces: {count}, digests enqueued: {enqueued}")
    print(
        f"total: {total:.1f} s (tick: compose + render + chart + enqueue {ticked - started:.1f} s; "
        f"drain {finished - ticked:.1f} s)"
    )
    print(
        f"messages: {messages} ({sum(keys.values())} digests + {charts} charts), "
        f"{messages / total:.1f} msgs/s"
    )
    print(f"peak RSS: {rss_mb:.0f} MB")
    print(f"duplicates: {sum(n - 1 for n in keys.values() if n > 1)}")
    print(f"429s answered by the simulator: {sim.rate_limited}; outbox rows by state: {states}")
    print(f"target ≤ 60 s for 1,000: {'met' if total <= 60 * count / 1000 else 'missed'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workspaces", type=int, default=1000)
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--chart-processes", type=int, default=1)
    args = parser.parse_args()
    asyncio.run(run(args.workspaces, args.database_url, args.chart_processes))


if __name__ == "__main__":
    main()

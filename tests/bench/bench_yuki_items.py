"""Benchmark: parse and store an outstanding-items answer of 20,000 items.

    .venv/bin/python -m tests.bench.bench_yuki_items [--items 20000] [--database-url URL]

Prints items/s and peak memory for cashbot's path (hardened streaming parse → item values →
upsert, unparsed bookkeeping, closing what vanished), next to two baselines measured in the
same run on the same answer and database: the bare defusedxml parse (no conversion) and a
plain bulk INSERT of the same rows (no upsert). Timings and memory are taken in separate
passes, since tracing allocations slows Python down. Default database: a temporary SQLite
file; with a postgresql:// URL (e.g. the tests' TEST_DATABASE_URL) the benchmark creates a
throwaway database on that server and drops it afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import tempfile
import time
import tracemalloc
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import asyncpg
from defusedxml.ElementTree import iterparse
from sqlalchemy import delete, insert
from sqlalchemy.engine import make_url

from bot.clock import SystemClock
from bot.config import Settings
from bot.domain import Provider
from bot.providers.yuki.api.items import read_item
from bot.providers.yuki.api.models import ItemFailure, OutstandingItem
from bot.providers.yuki.api.protocol import OUTSTANDING_DEBTOR_ITEMS
from bot.providers.yuki.api.reader import read_answer
from bot.providers.yuki.sync import _values
from bot.sandbox.yuki import YukiSimulator
from bot.sandbox.yuki_seed import SeedSize
from storage.database import Database
from storage.migrate import upgrade_to_head
from storage.models import Connection, OpenItem, Workspace
from storage.yuki import close_vanished_items, record_unparsed, upsert_open_items


def raw_parse(body: bytes) -> int:
    """Baseline: the hardened parser alone, counting items and dropping them."""
    count = 0
    for _, element in iterparse(io.BytesIO(body), events=("end",), forbid_dtd=True):
        if element.tag.rpartition("}")[2] == "Item":
            count += 1
            element.clear()
    return count


def cashbot_parse(body: bytes) -> list[OutstandingItem]:
    answer = read_answer(body, OUTSTANDING_DEBTOR_ITEMS, lambda element: read_item(element, "EUR"))
    assert not any(isinstance(r, ItemFailure) for r in answer.records)
    return [r for r in answer.records if isinstance(r, OutstandingItem)]


async def prepare(database: Database) -> tuple[int, int]:
    await upgrade_to_head(database)
    async with database.write() as session:
        workspace = Workspace(team_id=f"TBENCH{time.time_ns()}", timezone="Europe/Brussels")
        session.add(workspace)
        await session.flush()
        connection = Connection(
            workspace_id=workspace.id, provider=Provider.YUKI.value, state="active", version=1
        )
        session.add(connection)
        await session.flush()
        return workspace.id, connection.id


async def store(database: Database, ids: tuple[int, int], items: list[OutstandingItem]) -> None:
    """What the Yuki sync does with one answer, in one transaction."""
    workspace_id, connection_id = ids
    seen_at = database.clock.now()
    async with database.write() as session:
        await record_unparsed(
            session, workspace_id=workspace_id, kind="receivable", failures=[], seen_at=seen_at
        )
        await upsert_open_items(
            session,
            workspace_id=workspace_id,
            connection_id=connection_id,
            kind="receivable",
            items=[_values(item) for item in items],
            seen_at=seen_at,
        )
        await close_vanished_items(session, workspace_id=workspace_id, kind="receivable", seen_at=seen_at)


async def plain_insert(database: Database, ids: tuple[int, int], items: list[OutstandingItem]) -> None:
    """Baseline: the same rows with a plain multi-row INSERT (kind 'baseline', removed after)."""
    workspace_id, connection_id = ids
    now = database.clock.now()
    rows = [
        _values(item)
        | {
            "workspace_id": workspace_id,
            "connection_id": connection_id,
            "kind": "baseline",
            "status": "open",
            "first_seen_at": now,
            "last_seen_at": now,
        }
        for item in items
    ]
    async with database.write() as session:
        for start in range(0, len(rows), 1000):
            await session.execute(insert(OpenItem), rows[start : start + 1000])


async def clear(database: Database, kind: str) -> None:
    async with database.write() as session:
        await session.execute(delete(OpenItem).where(OpenItem.kind == kind))


async def timed(action: Callable[[], Awaitable[Any]]) -> float:
    started = time.perf_counter()
    await action()
    return time.perf_counter() - started


def timed_sync(action: Callable[[], Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    result = action()
    return time.perf_counter() - started, result


async def peak_memory(body: bytes, database: Database, ids: tuple[int, int]) -> int:
    """Peak bytes Python allocated while parsing and storing the answer (a fresh pass)."""
    await clear(database, "receivable")
    tracemalloc.start()
    try:
        items = cashbot_parse(body)
        await store(database, ids, items)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


async def run(count: int, database_url: str) -> None:
    sim = YukiSimulator(size=SeedSize(customers=300, debtor_items=count, suppliers=5, creditor_items=5))
    body = sim.outstanding_answer()
    database = Database(database_url, clock=SystemClock())
    try:
        ids = await prepare(database)
        raw_seconds, raw_count = timed_sync(lambda: raw_parse(body))
        parse_seconds, items = timed_sync(lambda: cashbot_parse(body))
        assert raw_count == len(items) == count
        insert_seconds = await timed(lambda: plain_insert(database, ids, items))
        await clear(database, "baseline")
        first_seconds = await timed(lambda: store(database, ids, items))
        again_seconds = await timed(lambda: store(database, ids, items))
        peak = await peak_memory(body, database, ids)
    finally:
        await database.dispose()
    report(
        count,
        len(body),
        database_url,
        raw_seconds,
        parse_seconds,
        insert_seconds,
        first_seconds,
        again_seconds,
        peak,
    )


def report(
    count: int,
    size: int,
    url: str,
    raw: float,
    parse: float,
    plain: float,
    first: float,
    again: float,
    peak: int,
) -> None:
    def rate(seconds: float) -> str:
        return f"{count / seconds:>10,.0f} items/s  {seconds * 1000:>8.0f} ms"

    print(f"Yuki outstanding items: {count:,} items, answer {size / 1e6:.1f} MB, {url.split(':')[0]}")
    print(f"  baseline  bare defusedxml parse        {rate(raw)}")
    print(f"  cashbot   parse into items             {rate(parse)}   {parse / raw:.2f}x the bare parse")
    print(f"  baseline  plain bulk INSERT            {rate(plain)}")
    print(f"  cashbot   store (new items)            {rate(first)}   {first / plain:.2f}x the plain INSERT")
    print(f"  cashbot   store (all known, updated)   {rate(again)}   {again / plain:.2f}x the plain INSERT")
    total = parse + first
    print(f"  cashbot   parse + store                {rate(total)}")
    print(f"  peak Python memory, parse + store: {peak / 1e6:.1f} MB ({peak / size:.1f}x the answer's size)")


async def on_throwaway_database(count: int, server_url: str) -> None:
    """Run against a fresh database on the server of `server_url`; drop it afterwards."""
    admin = make_url(server_url).set(drivername="postgresql")
    name = f"cashbot_bench_{uuid.uuid4().hex[:10]}"
    connection = await asyncpg.connect(admin.render_as_string(hide_password=False))
    try:
        await connection.execute(f'CREATE DATABASE "{name}"')
        try:
            bench = make_url(server_url).set(database=name).render_as_string(hide_password=False)
            await run(count, bench)
        finally:
            await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await connection.close()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--items", type=int, default=20_000)
    parser.add_argument("--database-url", help="default: a temporary SQLite file")
    args = parser.parse_args()
    if args.database_url:
        url = Settings.from_env({"DATABASE_URL": args.database_url}).database_url
        bench = on_throwaway_database if url.startswith("postgresql") else run
        asyncio.run(bench(args.items, url))
        return
    with tempfile.TemporaryDirectory() as workdir:
        asyncio.run(run(args.items, f"sqlite+aiosqlite:///{Path(workdir) / 'bench.db'}"))


if __name__ == "__main__":
    main()

"""Benchmark: sync 100,000 Ponto transactions into SQLite and PostgreSQL, next to a raw bulk insert.

    .venv/bin/python -m tests.bench.bench_ponto_sync [--transactions 100000] [--only sqlite|postgresql]

The Ponto simulator runs in its own process (`python -m bot.sandbox.ponto`), as Ponto would be
another machine. Per database:

- sync: a first `SyncService.run` of a freshly connected workspace, through the real client
  (HTTP, JSON:API parsing, typed models, pages of 100) into a migrated database: rows/s;
- raw: the very rows the sync stored, read back, then inserted into a fresh migrated database
  in one transaction with one SQLAlchemy Core executemany, on the same engine settings (SQLite
  WAL + synchronous=FULL; PostgreSQL through asyncpg): rows/s. The target is sync ≥ 50 % of raw;
- unchanged: a second sync of the same connection, which must cost exactly one API call.

Each database is measured `--repeat` times (default 3) and the median reported, with every run's
figures: the simulator shares this machine's two cores, so single runs vary by ±10 %.

PostgreSQL uses TEST_DATABASE_URL (or postgresql://postgres@127.0.0.1:5432/test) as the admin
connection and works in scratch databases it creates and drops.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import asyncpg
from sqlalchemy import delete, insert, select
from sqlalchemy.engine import make_url

from bot.clock import SystemClock
from bot.domain import Provider
from bot.features.alerts import AlertService
from bot.features.sync.runner import SyncService
from bot.providers.connections import ConnectionService
from bot.providers.ponto.plugin import PontoGateway, PontoTokens
from bot.providers.ponto.sync import COMMIT_ROWS, PontoSyncer
from storage.crypto import SecretBox, generate_key
from storage.database import Database
from storage.migrate import upgrade_to_head
from storage.models import BankAccount, BankTransaction, Connection
from storage.workspaces import ensure_workspace
from tests.ponto_support import consent_tokens, ponto_config

DEFAULT_PG = "postgresql://postgres@127.0.0.1:5432/test"
TARGET = 0.5


@dataclass
class Figures:
    """One database's results (seconds for the same rows)."""

    name: str
    rows: int
    sync_seconds: float
    raw_seconds: float
    raw_batched_seconds: float
    first_calls: int
    unchanged_calls: int

    def rate(self, seconds: float) -> str:
        return f"{self.rows:,} rows in {seconds:5.2f} s = {self.rows / seconds:8,.0f} rows/s"

    def report(self) -> str:
        ratio = self.raw_seconds / self.sync_seconds
        verdict = "met" if ratio >= TARGET else "MISSED"
        lines = [
            (f"sync ({self.first_calls} API calls)", self.rate(self.sync_seconds)),
            ("raw bulk insert, one transaction", self.rate(self.raw_seconds)),
            (
                f"raw in {COMMIT_ROWS:,}-row transactions",
                self.rate(self.raw_batched_seconds) + " (sync's size)",
            ),
            ("sync / raw bulk insert", f"{ratio:.0%} (target >= {TARGET:.0%}: {verdict})"),
            ("unchanged re-sync", f"{self.unchanged_calls} API call(s)"),
        ]
        return "\n".join([self.name, *(f"  {label:<34} {value}" for label, value in lines)])


@asynccontextmanager
async def simulator(transactions: int) -> AsyncIterator[str]:
    """The Ponto simulator in its own process; yields its URL."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot.sandbox.ponto",
        "--transactions",
        str(transactions),
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        assert process.stdout is not None
        line = (await asyncio.wait_for(process.stdout.readline(), 120)).decode()
        yield line.split(" at ", 1)[1].split()[0]
    finally:
        process.terminate()
        await process.wait()


@asynccontextmanager
async def scratch_databases(kind: str, workdir: Path) -> AsyncIterator[tuple[str, str]]:
    """Two empty, migrated databases of `kind`: one for the sync, one for the raw insert."""
    if kind == "sqlite":
        urls = [f"sqlite+aiosqlite:///{workdir / f'{name}.db'}" for name in ("sync", "raw")]
        for url in urls:
            await migrate(url)
        yield urls[0], urls[1]
        return
    admin = make_url(os.environ.get("TEST_DATABASE_URL") or DEFAULT_PG).set(drivername="postgresql")
    names = [f"ponto_bench_{uuid.uuid4().hex[:8]}" for _ in range(2)]
    connection = await asyncpg.connect(admin.render_as_string(hide_password=False))
    try:
        for name in names:
            await connection.execute(f'CREATE DATABASE "{name}"')
        urls = [
            admin.set(drivername="postgresql+asyncpg", database=n).render_as_string(hide_password=False)
            for n in names
        ]
        for url in urls:
            await migrate(url)
        yield urls[0], urls[1]
    finally:
        for name in names:
            await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await connection.close()


async def migrate(url: str) -> None:
    database = Database(url, clock=SystemClock())
    await upgrade_to_head(database)
    await database.dispose()


async def bench_sync(url: str, sim_url: str) -> tuple[float, int, int, int, list[dict[str, Any]]]:
    """Connect, sync (timed), sync again; the stored rows for the raw insert."""
    database = Database(url, clock=SystemClock())
    box = SecretBox([generate_key()])
    connections, alerts = (
        ConnectionService(database, box, clock=database.clock),
        AlertService(database, clock=database.clock),
    )
    gateway = PontoGateway(ponto_config(sim_url), clock=SystemClock())
    tokens = PontoTokens(gateway, connections, alerts, clock=SystemClock())
    sync = SyncService(
        database,
        connections,
        alerts,
        {Provider.PONTO: PontoSyncer(database, tokens.client, connections, alerts, clock=database.clock)},
        clock=database.clock,
    )
    try:
        async with database.write() as session:
            workspace_id = (await ensure_workspace(session, "TBENCH", timezone="Europe/Brussels")).id
        issued = await consent_tokens(sim_url, gateway.http)
        await connections.save(
            workspace_id,
            Provider.PONTO,
            {"access_token": issued.access_token, "refresh_token": issued.refresh_token},
            connected_by="UBENCH",
            token_expires_at=issued.expires_at,
        )
        started = time.perf_counter()
        first = await sync.run(workspace_id, Provider.PONTO, "bench")
        elapsed = time.perf_counter() - started
        second = await sync.run(workspace_id, Provider.PONTO, "bench")
        assert first.outcome == "success" and second.outcome == "success", (first, second)
        assert second.written == 0
        columns = [c for c in BankTransaction.__table__.columns if c.name not in ("id", "account_id")]
        async with database.read() as session:
            rows = [dict(row._mapping) for row in await session.execute(select(*columns))]
        return elapsed, first.written, first.api_calls, second.api_calls, rows
    finally:
        await gateway.aclose()
        await database.dispose()


async def bench_raw(url: str, rows: list[dict[str, Any]], batch: int) -> float:
    """The same rows into an empty table, `batch` rows per transaction: the storage stack's own speed."""
    database = Database(url, clock=SystemClock())
    try:
        async with database.write() as session:
            await session.execute(delete(BankTransaction))  # every measurement starts from an empty table
            workspace = await ensure_workspace(session, f"TRAW{batch}", timezone="Europe/Brussels")
            connection = Connection(workspace_id=workspace.id, provider="ponto", state="active")
            session.add(connection)
            await session.flush()
            account = BankAccount(
                workspace_id=workspace.id,
                connection_id=connection.id,
                provider_account_id=f"raw-{batch}",
                currency="EUR",
                current_balance=Decimal(0),
            )
            session.add(account)
            await session.flush()
            account_id = account.id
        prepared = [{**row, "account_id": account_id} for row in rows]
        started = time.perf_counter()
        for start in range(0, len(prepared), batch):
            async with database.write() as session:
                await session.execute(insert(BankTransaction.__table__), prepared[start : start + batch])
        return time.perf_counter() - started
    finally:
        await database.dispose()


async def measure(kind: str, sim_url: str, transactions: int) -> Figures:
    """One sync and the raw inserts of the same rows, each into fresh scratch databases."""
    with tempfile.TemporaryDirectory(prefix="ponto-bench-") as workdir:
        async with scratch_databases(kind, Path(workdir)) as (sync_url, raw_url):
            seconds, written, calls, unchanged, rows = await bench_sync(sync_url, sim_url)
            assert written == transactions == len(rows), (written, len(rows))
            raw = await bench_raw(raw_url, rows, len(rows))
            batched = await bench_raw(raw_url, rows, COMMIT_ROWS)
    return Figures(kind, written, seconds, raw, batched, calls, unchanged)


def median_of(runs: list[Figures]) -> Figures:
    """The median of each timing over the runs (this 2-core machine also runs the simulator)."""
    pick = statistics.median
    first = runs[0]
    return Figures(
        first.name,
        first.rows,
        pick(r.sync_seconds for r in runs),
        pick(r.raw_seconds for r in runs),
        pick(r.raw_batched_seconds for r in runs),
        first.first_calls,
        max(r.unchanged_calls for r in runs),
    )


async def main(transactions: int, kinds: list[str], repeat: int = 3) -> int:
    print(
        f"Ponto sync benchmark: {transactions:,} transactions; simulator in its own process; "
        f"median of {repeat} runs",
        flush=True,
    )
    results: list[Figures] = []
    async with simulator(transactions) as sim_url:
        for kind in kinds:
            runs = [await measure(kind, sim_url, transactions) for _ in range(repeat)]
            figures = median_of(runs)
            results.append(figures)
            print(figures.report(), flush=True)
            spread = ", ".join(f"{r.sync_seconds:.2f}/{r.raw_seconds:.2f}" for r in runs)
            print(f"  {'runs (sync s / raw s)':<34} {spread}", flush=True)
    ok = all(f.raw_seconds >= TARGET * f.sync_seconds and f.unchanged_calls == 1 for f in results)
    return 0 if ok else 1


def cli() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--transactions", type=int, default=100_000)
    parser.add_argument("--only", choices=["sqlite", "postgresql"])
    parser.add_argument("--repeat", type=int, default=3, help="runs per database; the median is reported")
    args = parser.parse_args()
    kinds = [args.only] if args.only else ["sqlite", "postgresql"]
    sys.exit(asyncio.run(main(args.transactions, kinds, args.repeat)))


if __name__ == "__main__":
    cli()

"""Benchmark of /cash and /overdue: the real server under 32 concurrent connections, against a bare Bolt app.

    .venv/bin/python -m tests.bench.bench_commands [--seconds 15] [--transactions 1000000]

It builds two SQLite workspaces (50 accounts, 50,000 open items, and 10,000 or 1,000,000 bank
transactions), starts each server as its own process (`cashbot web`: uvicorn, one worker) and a
bare Bolt app that only acks (`uvicorn tests.bench.bare_bolt:app`), and sends correctly signed
`/cash`, `/overdue` and `/overdue 60` from this process over 32 keep-alive connections. It prints
requests/s, p50/p99 latency and the server's peak memory for each, the ratios the issue sets as
targets, and how long each report takes to compute when it is not cached.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import hashlib
import hmac
import itertools
import os
import random
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from urllib.parse import urlencode

import psutil

from bot.clock import SystemClock
from bot.domain import Provider
from bot.features.cash.position import CashService
from bot.features.freshness import WorkspaceCalendar
from bot.features.receivables.overdue import OverdueQuery, ReceivablesService
from bot.features.report_cache import InProcessCache
from bot.sandbox.server import serve_simulator
from bot.sandbox.slack import DEFAULT_TEAM, SimUser, SlackSimulator
from storage.crypto import generate_key, one_time_token
from storage.database import Database
from storage.migrate import upgrade_to_head
from tests.features import cash_data as data

CONNECTIONS = 32
ACCOUNTS = 50
OPEN_ITEMS = 50_000
USERS = [f"U0LOAD{n:02d}" for n in range(8)]
COMMANDS = [
    ("/cash", "", b"Cash position"),
    ("/overdue", "", b"Overdue receivables"),
    ("/overdue", "60", b"Overdue"),
]
ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Result:
    name: str
    requests: int
    errors: int
    seconds: float
    latencies: list[float]
    peak_rss_mb: float

    @property
    def rps(self) -> float:
        return self.requests / self.seconds

    def quantile(self, q: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(len(ordered) * q))] * 1000 if ordered else float("nan")


# ---- data -------------------------------------------------------------------------------------------


async def build_database(path: Path, transactions: int) -> float:
    """A migrated SQLite database with the benchmark workspace; returns the seconds it took."""
    started = time.perf_counter()
    database = Database(f"sqlite+aiosqlite:///{path}", clock=SystemClock())
    await upgrade_to_head(database)
    workspace_id = await data.workspace(database, installed_by="U0ADMIN")
    ponto = await data.connect(database, workspace_id, Provider.PONTO)
    yuki = await data.connect(database, workspace_id, Provider.YUKI, connected_by="U0BOOKS")
    accounts = [
        await data.add_account(
            database,
            workspace_id,
            ponto,
            data.Account(f"Bank {n}", f"BE{n:02d}{n:012d}", "EUR" if n % 10 else "USD", Decimal(10_000 + n)),
        )
        for n in range(ACCOUNTS)
    ]
    await data.add_ledger(database, workspace_id, yuki, "550000", Decimal(400_000))
    today = data.today()
    rng = random.Random(5)
    await data.add_items(
        database,
        workspace_id,
        yuki,
        [
            data.Item(
                f"Customer {rng.randrange(2000):04d} NV",
                f"INV-{n:06d}",
                Decimal(rng.randrange(-50_00, 20_000_00)) / 100,
                today - dt.timedelta(days=rng.randrange(-60, 400)),
                code=None,
            )
            for n in range(OPEN_ITEMS)
        ],
    )
    for user in USERS:
        await _grant(database, workspace_id, user)
    await database.dispose()
    _bulk_transactions(path, accounts, transactions, today)
    return time.perf_counter() - started


async def _grant(database: Database, workspace_id: int, user: str) -> None:
    from bot.features.access.rights import AccessService

    await AccessService(database, clock=database.clock).grant(workspace_id, user, "U0ADMIN")


def _bulk_transactions(path: Path, accounts: list[int], count: int, today: dt.date) -> None:
    """Transactions spread over five years, written with plain sqlite3 for speed."""
    rng = random.Random(7)
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None).isoformat(sep=" ")
    connection = sqlite3.connect(path)
    try:
        batch = []
        for n in range(count):
            day = (today - dt.timedelta(days=rng.randrange(0, 5 * 365))).isoformat()
            batch.append(
                (
                    accounts[n % len(accounts)],
                    f"tx-{n}",
                    rng.randrange(-5_000_0000, 5_000_0000),
                    "EUR",
                    day,
                    day,
                    now,
                )
            )
            if len(batch) == 50_000:
                _insert(connection, batch)
                batch = []
        _insert(connection, batch)
        connection.execute("ANALYZE")
        connection.commit()
    finally:
        connection.close()


def _insert(connection: sqlite3.Connection, rows: list[tuple[object, ...]]) -> None:
    connection.executemany(
        "INSERT INTO bank_transaction (account_id, provider_transaction_id, amount, currency, execution_date,"
        " value_date, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
        rows,
    )


async def cold_compute_ms(path: Path) -> dict[str, float]:
    """How long each report takes when nothing is cached (the worst a request can wait)."""
    database = Database(f"sqlite+aiosqlite:///{path}", clock=SystemClock())
    calendar = WorkspaceCalendar(database, "Europe/Brussels")
    stale = dt.timedelta(hours=3)
    timings: dict[str, float] = {}
    try:
        for name, run in (
            (
                "/cash",
                lambda c: CashService(
                    database, c, calendar, stale_after=stale, clock=database.clock
                ).position(1),
            ),
            (
                "/overdue",
                lambda c: ReceivablesService(
                    database, c, calendar, stale_after=stale, clock=database.clock
                ).overdue(1, OverdueQuery()),
            ),
            (
                "/overdue 60",
                lambda c: ReceivablesService(
                    database, c, calendar, stale_after=stale, clock=database.clock
                ).overdue(1, OverdueQuery(60)),
            ),
        ):
            samples = []
            for _ in range(5):
                started = time.perf_counter()
                await run(InProcessCache())
                samples.append((time.perf_counter() - started) * 1000)
            timings[name] = statistics.median(samples)
    finally:
        await database.dispose()
    return timings


# ---- servers ----------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_server(argv: list[str], env: dict[str, str], port: int, log: Path) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(
        argv, env={**os.environ, **env}, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=log.open("wb")
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return process
        except OSError:
            if process.poll() is not None:
                raise RuntimeError(f"server exited: {log.read_text()[-2000:]}") from None
            time.sleep(0.1)
    process.kill()
    raise RuntimeError("server did not start")


def stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        process.kill()


# ---- load -------------------------------------------------------------------------------------------


def signed_request(port: int, secret: str, command: str, text: str, user: str) -> bytes:
    body = urlencode(
        {
            "team_id": DEFAULT_TEAM,
            "channel_id": "C0FINANCE",
            "user_id": user,
            "command": command,
            "text": text,
            "response_url": "http://127.0.0.1:9/_response/bench",
            "trigger_id": "bench",
        }
    )
    stamp = str(int(time.time()))
    signature = "v0=" + hmac.new(secret.encode(), f"v0:{stamp}:{body}".encode(), hashlib.sha256).hexdigest()
    return (
        f"POST /slack/events HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        "Content-Type: application/x-www-form-urlencoded\r\n"
        f"X-Slack-Request-Timestamp: {stamp}\r\nX-Slack-Signature: {signature}\r\n"
        f"Content-Length: {len(body)}\r\n\r\n{body}"
    ).encode()


async def _connection(
    port: int,
    secret: str,
    until: float,
    warm_until: float,
    plan: itertools.cycle,
    latencies: list[float],
    errors: list[int],
    check: bool,  # type: ignore[type-arg]
) -> int:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    done = 0
    try:
        while (now := time.perf_counter()) < until:
            command, text, marker, user = next(plan)
            writer.write(signed_request(port, secret, command, text, user))
            head = await reader.readuntil(b"\r\n\r\n")
            length = next(
                int(line.split(b":")[1])
                for line in head.split(b"\r\n")
                if line.lower().startswith(b"content-length:")
            )
            body = await reader.readexactly(length)
            if now < warm_until:
                continue
            latencies.append(time.perf_counter() - now)
            done += 1
            if not head.startswith(b"HTTP/1.1 200") or (check and marker not in body):
                errors.append(1)
    finally:
        writer.close()
    return done


async def load(name: str, port: int, secret: str, pid: int, seconds: float, check: bool) -> Result:
    plan = itertools.cycle([(c, t, m, u) for u in USERS for (c, t, m) in COMMANDS])
    latencies: list[float] = []
    errors: list[int] = []
    server = psutil.Process(pid)
    peak = server.memory_info().rss
    warm = 2.0
    started = time.perf_counter()
    until, warm_until = started + warm + seconds, started + warm
    tasks = [
        asyncio.create_task(_connection(port, secret, until, warm_until, plan, latencies, errors, check))
        for _ in range(CONNECTIONS)
    ]
    while not all(task.done() for task in tasks):
        peak = max(peak, server.memory_info().rss)
        await asyncio.sleep(0.1)
    await asyncio.gather(*tasks)
    return Result(name, len(latencies), len(errors), seconds, latencies, peak / 2**20)


# ---- the run ----------------------------------------------------------------------------------------


async def run(seconds: float, big: int) -> None:
    sim = SlackSimulator()
    for user in USERS:
        sim.teams[DEFAULT_TEAM].users[user] = SimUser(user, user.lower(), locale="nl-BE")
    async with serve_simulator(sim):
        with tempfile.TemporaryDirectory(prefix="cashbot-bench-") as tmp:
            work = Path(tmp)
            results, cold = [], {}
            secret, token = one_time_token(), sim.issue_bot_token()
            common = {
                "SLACK_SIGNING_SECRET": secret,
                "SLACK_BOT_TOKEN": token,
                "SLACK_API_URL": sim.base_url + "/api/",
            }
            paths = {}
            for label, count in (("10k", 10_000), ("1M", big)):
                paths[label] = work / f"cashbot-{label}.db"
                built = await build_database(paths[label], count)
                print(f"built the {label} database ({count:,} transactions) in {built:.0f} s", flush=True)
                cold[label] = await cold_compute_ms(paths[label])
            # The bare app runs before and after cashbot: the machine is shared, so the faster of the
            # two is the baseline (the conservative choice for the throughput ratio).
            results.append(await _bare(work, common, secret, seconds, "bare Bolt (ack only), before"))
            for label, path in paths.items():
                results.append(await _cashbot(work, common, secret, seconds, path, label))
            results.append(await _bare(work, common, secret, seconds, "bare Bolt (ack only), after"))
            report(results, cold, big)


async def _bare(work: Path, common: dict[str, str], secret: str, seconds: float, name: str) -> Result:
    port = free_port()
    argv = [
        sys.executable,
        "-m",
        "uvicorn",
        "tests.bench.bare_bolt:app",
        "--port",
        str(port),
        "--workers",
        "1",
        "--log-level",
        "warning",
        "--no-access-log",
    ]
    process = start_server(argv, common, port, work / "bare.log")
    try:
        return await load(name, port, secret, process.pid, seconds, check=False)
    finally:
        stop(process)


async def _cashbot(
    work: Path, common: dict[str, str], secret: str, seconds: float, path: Path, label: str
) -> Result:
    port = free_port()
    env = {
        **common,
        "DATABASE_URL": f"sqlite+aiosqlite:///{path}",
        "CASHBOT_ENCRYPTION_KEYS": generate_key(),
        "CASHBOT_AUDIT_KEY": one_time_token(),
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "PUBLIC_URL": f"http://127.0.0.1:{port}",
    }
    process = start_server(
        [sys.executable, "-m", "bot.app.cli", "web"], env, port, work / f"cashbot-{label}.log"
    )
    try:
        return await load(f"cashbot, {label} transactions", port, secret, process.pid, seconds, check=True)
    finally:
        stop(process)


def report(results: list[Result], cold: dict[str, dict[str, float]], big: int) -> None:
    print(f"\n{CONNECTIONS} connections; /cash, /overdue, /overdue 60 in turn from {len(USERS)} members\n")
    print(f"{'server':32} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7} {'peak RSS MB':>12}")
    for r in results:
        p50, p99 = r.quantile(0.5), r.quantile(0.99)
        print(f"{r.name:32} {r.rps:8.0f} {p50:8.1f} {p99:8.1f} {r.errors:7d} {r.peak_rss_mb:12.0f}")
    small, large = results[1], results[2]
    bare = max(results[0], results[3], key=lambda r: r.rps)
    print("\ntargets")
    _target(f"p99 at {big:,} transactions < 50 ms", large.quantile(0.99), 50, "ms", lower=True)
    _target("throughput vs bare Bolt >= 60 %", large.rps / bare.rps * 100, 60, "%", lower=False)
    _target(
        "p99 at 1M / p99 at 10k <= 1.5", large.quantile(0.99) / small.quantile(0.99), 1.5, "x", lower=True
    )
    print("\nuncached report computation (median of 5, ms)")
    for label, timings in cold.items():
        print(f"  {label:4} " + "  ".join(f"{name}: {ms:.1f}" for name, ms in timings.items()))


def _target(label: str, value: float, bound: float, unit: str, *, lower: bool) -> None:
    ok = value < bound if lower else value >= bound
    print(f"  {'PASS' if ok else 'MISS'}  {label}: {value:.2f} {unit}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--seconds", type=float, default=15.0, help="measured seconds per server (after 2 s warm-up)"
    )
    parser.add_argument(
        "--transactions", type=int, default=1_000_000, help="transactions of the large workspace"
    )
    args = parser.parse_args()
    asyncio.run(run(args.seconds, args.transactions))


if __name__ == "__main__":
    main()

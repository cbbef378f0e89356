"""Benchmark of /cash and /overdue: the real server under 32 concurrent connections, against a bare Bolt app.

    .venv/bin/python -m tests.bench.bench_commands [--seconds 15] [--transactions 100000]
        [--open-items 5000] [--expiry-ttl 2] [--probe]

It builds one SQLite workspace (50 accounts, 5,000 open items, 100,000 bank transactions: the
shape of issue 17), starts `cashbot web` as its own process (uvicorn, one worker) for each run and
a bare Bolt app that only acks (`uvicorn tests.bench.bare_bolt:app`) before and after, and sends
correctly signed `/cash` or `/overdue` from this process over 32 keep-alive connections.

Each command is loaded twice: with the report cache warm (the default 60 s TTL outlasts the run),
and across cache expiries (`CASHBOT_REPORT_CACHE_SECONDS=--expiry-ttl`, so every key is refreshed
and expires many times during the run). It prints req/s, p50/p90/p99/max, the answers slower than
50 ms per 10,000, the ratios to the targets (p99 <= 2x bare Bolt's p99, throughput >= 75 % of bare
Bolt's), and checks that the audit trail holds one view row per answer. `--probe` runs the server
under tests/bench/probe.py and prints, per run, the stalls of its event loop and the timings of each
suspect (garbage collection, audit commit, cache refill, rendering, logging).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import hashlib
import hmac
import itertools
import json
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
from typing import Any
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
USERS = [f"U0LOAD{n:02d}" for n in range(8)]
MARKERS = {"/cash": b"Cash position", "/overdue": b"Overdue receivables"}
SLOW = 0.05  # seconds: an answer the issue counts as stalled
ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Result:
    name: str
    requests: int
    errors: int
    seconds: float
    latencies: list[float]
    peak_rss_mb: float
    cpu: float = 0.0  # the server's CPU seconds per second of the run (1.0: one core busy)
    waited: float = 0.0  # seconds per second its threads were runnable but had no core (shared machine)
    answered: int = 0  # every 200 answer, warm-up included (each one must be in the audit trail)
    audited: int | None = None
    probe: dict[str, Any] | None = None

    @property
    def rps(self) -> float:
        return self.requests / self.seconds

    @property
    def slow_per_10k(self) -> float:
        return sum(latency > SLOW for latency in self.latencies) / max(1, self.requests) * 10_000

    def quantile(self, q: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(len(ordered) * q))] * 1000 if ordered else float("nan")


# ---- data -------------------------------------------------------------------------------------------


async def build_database(path: Path, transactions: int, open_items: int) -> float:
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
            for n in range(open_items)
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


def start_server(
    argv: list[str], env: dict[str, str], port: int, log: Path, tree: Path = ROOT
) -> subprocess.Popen[bytes]:
    environ = {**os.environ, **env, "PYTHONPATH": str(tree)}
    process = subprocess.Popen(argv, env=environ, cwd=tree, stdout=subprocess.DEVNULL, stderr=log.open("wb"))
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


@dataclass
class Plan:
    """What one run sends and how the server is configured."""

    name: str
    command: str | None  # None: the bare Bolt app
    env: dict[str, str]
    tree: Path = ROOT  # where the server's code is imported from


async def _connection(
    port: int,
    secret: str,
    until: float,
    warm_until: float,
    plan: Any,
    latencies: list[float],
    errors: list[int],
    check: bool,
) -> int:
    """Requests back to back on one keep-alive connection; returns how many were answered 200."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    answered = 0
    try:
        while (now := time.perf_counter()) < until:
            command, marker, user = next(plan)
            writer.write(signed_request(port, secret, command, "", user))
            head = await reader.readuntil(b"\r\n\r\n")
            length = next(
                int(line.split(b":")[1])
                for line in head.split(b"\r\n")
                if line.lower().startswith(b"content-length:")
            )
            body = await reader.readexactly(length)
            ok = head.startswith(b"HTTP/1.1 200") and (not check or marker in body)
            answered += ok
            if now < warm_until:
                continue
            latencies.append(time.perf_counter() - now)
            if not ok:
                errors.append(1)
    finally:
        writer.close()
    return answered


async def load(name: str, port: int, secret: str, pid: int, seconds: float, command: str | None) -> Result:
    sent = command or "/cash"
    plan = itertools.cycle([(sent, MARKERS[sent], u) for u in USERS])
    latencies: list[float] = []
    errors: list[int] = []
    server = psutil.Process(pid)
    peak = server.memory_info().rss
    cpu_before, waited_before = sum(server.cpu_times()[:2]), _run_queue_wait(pid)
    warm = 2.0
    started = time.perf_counter()
    until, warm_until = started + warm + seconds, started + warm
    tasks = [
        asyncio.create_task(
            _connection(port, secret, until, warm_until, plan, latencies, errors, command is not None)
        )
        for _ in range(CONNECTIONS)
    ]
    while not all(task.done() for task in tasks):
        peak = max(peak, server.memory_info().rss)
        await asyncio.sleep(0.1)
    elapsed = time.perf_counter() - started
    cpu = (sum(server.cpu_times()[:2]) - cpu_before) / elapsed
    waited = (_run_queue_wait(pid) - waited_before) / elapsed
    answered = sum(await asyncio.gather(*tasks))
    result = Result(name, len(latencies), len(errors), seconds, latencies, peak / 2**20, cpu, waited)
    result.answered = answered
    return result


def _run_queue_wait(pid: int) -> float:
    """Seconds the process's threads spent waiting for a core (the second field of schedstat)."""
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            total += int((task / "schedstat").read_text().split()[1])
        except (OSError, IndexError):
            continue
    return total / 1e9


# ---- the run ----------------------------------------------------------------------------------------


async def run(args: argparse.Namespace) -> None:
    sim = SlackSimulator()
    for user in USERS:
        sim.teams[DEFAULT_TEAM].users[user] = SimUser(user, user.lower(), locale="nl-BE")
    async with serve_simulator(sim):
        with tempfile.TemporaryDirectory(prefix="cashbot-bench-") as tmp:
            work = Path(tmp)
            secret, token = one_time_token(), sim.issue_bot_token()
            common = {
                "SLACK_SIGNING_SECRET": secret,
                "SLACK_BOT_TOKEN": token,
                "SLACK_API_URL": sim.base_url + "/api/",
            }
            path = work / "cashbot.db"
            built = await build_database(path, args.transactions, args.open_items)
            print(
                f"built the database ({ACCOUNTS} accounts, {args.transactions:,} transactions,"
                f" {args.open_items:,} open items) in {built:.0f} s",
                flush=True,
            )
            cold = await cold_compute_ms(path)
            expiry = {"CASHBOT_REPORT_CACHE_SECONDS": str(args.expiry_ttl)}
            plans = [Plan("bare Bolt, before", None, {})]
            for _ in range(args.rounds):
                plans += [
                    Plan("/cash, cache warm", "/cash", {}),
                    Plan("/overdue, cache warm", "/overdue", {}),
                    Plan(f"/cash, TTL {args.expiry_ttl} s", "/cash", expiry),
                    Plan(f"/overdue, TTL {args.expiry_ttl} s", "/overdue", expiry),
                ]
            if args.compare_tree:  # the same runs, the server from another tree (a before/after)
                plans += [
                    Plan(f"{p.name}, {args.compare_tree.name}", p.command, p.env, args.compare_tree)
                    for p in plans
                    if p.command
                ]
            plans = [p for p in plans if p.command is None or args.only in p.name]
            # A bare run after every cashbot run: the machine's load drifts, so each run is compared
            # with the bare runs either side of it.
            plans = [q for p in plans for q in (p, Plan("bare Bolt", None, {}))][:-1]
            plans.append(Plan("bare Bolt, after", None, {}))
            results = []
            for plan in plans:
                results.append(await _serve_and_load(work, common, secret, args, path, plan))
                print(f"  ran {plan.name} (load average {_load()})", flush=True)
            report(results, cold, args.open_items)


async def _serve_and_load(
    work: Path, common: dict[str, str], secret: str, args: argparse.Namespace, path: Path, plan: Plan
) -> Result:
    port = free_port()
    if plan.command is None:
        argv = [sys.executable, "-m", "uvicorn", "tests.bench.bare_bolt:app", "--port", str(port)]
        argv += ["--workers", "1", "--log-level", "warning", "--no-access-log"]
        process = start_server(argv, common, port, work / "bare.log")
        try:
            return await load(plan.name, port, secret, process.pid, args.seconds, None)
        finally:
            stop(process)
    env = {
        **common,
        **plan.env,
        "DATABASE_URL": f"sqlite+aiosqlite:///{path}",
        "CASHBOT_ENCRYPTION_KEYS": generate_key(),
        "CASHBOT_AUDIT_KEY": one_time_token(),
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "PUBLIC_URL": f"http://127.0.0.1:{port}",
    }
    summary = work / "probe.json"
    summary.unlink(missing_ok=True)
    argv = [sys.executable, "-m", "tests.bench.probe", str(summary)] if args.probe else []
    if args.profile:
        argv += [
            str(
                args.profile / f"{plan.name.split(',')[0].strip('/')}-{'expiry' if plan.env else 'warm'}.prof"
            )
        ]
    argv = argv or [sys.executable, "-m", "bot.app.cli", "web"]
    before = _views(path)
    process = start_server(argv, env, port, work / "cashbot.log", plan.tree)
    try:
        result = await load(plan.name, port, secret, process.pid, args.seconds, plan.command)
    finally:
        stop(process)
    result.audited = _views(path) - before
    if summary.exists():
        result.probe = json.loads(summary.read_text())
    return result


def _views(path: Path) -> int:
    """Rows of the audit trail that record a view of /cash or /overdue."""
    with sqlite3.connect(path) as connection:
        (count,) = connection.execute(
            "SELECT count(*) FROM audit_event WHERE action IN ('view.cash', 'view.overdue')"
        ).fetchone()
    return int(count)


def _load() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def report(results: list[Result], cold: dict[str, float], open_items: int) -> None:
    print(f"\n{CONNECTIONS} connections, {len(USERS)} members; load average {_load()}\n")
    header = f"{'run':34} {'req/s':>7} {'p50':>6} {'p90':>6} {'p99':>6} {'max':>6} {'>50ms/10k':>9}"
    print(header + f" {'errors':>6} {'answered':>8} {'audited':>8} {'RSS MB':>6} {'CPU':>5} {'wait':>5}")
    for r in results:
        figures = " ".join(f"{r.quantile(q):6.1f}" for q in (0.5, 0.9, 0.99))
        audited = "" if r.audited is None else str(r.audited)
        print(
            f"{r.name:34} {r.rps:7.0f} {figures} {max(r.latencies) * 1000:6.0f} {r.slow_per_10k:9.1f}"
            f" {r.errors:6d} {r.answered:8d} {audited:>8} {r.peak_rss_mb:6.0f} {r.cpu:5.2f} {r.waited:5.2f}"
        )
    print("\ntargets, each run against the bare runs either side of it (the faster, the lower p99)")
    for n, r in enumerate(results):
        if r.audited is None:
            continue
        bare = [results[n - 1], results[n + 1]]
        rps, p99 = max(b.rps for b in bare), min(b.quantile(0.99) for b in bare)
        _target(f"{r.name}: p99 / bare p99 <= 2", r.quantile(0.99) / p99, 2.0, "x", lower=True)
        _target(f"{r.name}: req/s / bare req/s >= 75 %", r.rps / rps * 100, 75, "%", lower=False)
        _target(f"{r.name}: audit rows = answers", float(r.audited == r.answered), 1, "", lower=False)
        # Load-proof: answers per CPU-second of the server, which a busy neighbour does not change.
        per_cpu = max(b.rps / b.cpu for b in bare if b.cpu)
        efficiency = r.rps / r.cpu / per_cpu
        print(f"        per server CPU-second: {r.rps / r.cpu:.0f} answers = {efficiency:.0%} of bare")
    print(f"\nuncached report computation, {open_items:,} open items (median of 5, ms): ", end="")
    print("  ".join(f"{name}: {ms:.1f}" for name, ms in cold.items()))
    for r in results:
        if r.probe:
            _probe(r)


def _probe(r: Result) -> None:
    print(f"\nprobe, {r.name} ({r.answered} answers): suspect, count, total ms, worst ms, > 50 ms")
    for name, t in sorted(r.probe["suspects"].items()) if r.probe else []:
        print(f"  {name:44} {t['count']:8d} {t['total_ms']:9.0f} {t['worst_ms']:8.1f} {t['over_50ms']:5d}")
    for stack, count in r.probe["stall_stacks"] if r.probe else []:
        print(f"  stalled {count}x in: {stack}")


def _target(label: str, value: float, bound: float, unit: str, *, lower: bool) -> None:
    ok = value <= bound if lower else value >= bound
    shown = ("yes" if value else "NO") if unit == "" else f"{value:.2f} {unit}"
    print(f"  {'PASS' if ok else 'MISS'}  {label}: {shown}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--seconds", type=float, default=15.0, help="measured seconds per run (after 2 s warm-up)"
    )
    parser.add_argument("--transactions", type=int, default=100_000, help="bank transactions")
    parser.add_argument("--open-items", type=int, default=5_000, help="open items (receivables)")
    parser.add_argument("--expiry-ttl", type=int, default=2, help="report cache TTL of the expiry runs (s)")
    parser.add_argument("--rounds", type=int, default=1, help="times each cashbot run is repeated")
    parser.add_argument("--probe", action="store_true", help="measure the suspects inside the server")
    parser.add_argument(
        "--profile", type=Path, help="with --probe: write a cProfile of each cashbot run here"
    )
    parser.add_argument(
        "--compare-tree",
        type=Path,
        help="also run each cashbot run with the server from this tree (e.g. `git archive` of main)",
    )
    parser.add_argument("--only", default="", help="run only the cashbot runs whose name contains this")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()

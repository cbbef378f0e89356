"""The real processes: `serve` migrates, serves and works; `web` and `worker` start and stop cleanly."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from bot.app.worker import LEASE_NAME
from bot.clock import SystemClock
from bot.sandbox.slack import SlackSimulator
from bot.sandbox.slack_requests import SlackRequests
from storage.crypto import generate_key
from storage.database import Database
from storage.models import JobLease
from tests.harness import AUDIT_KEY, SIGNING_SECRET


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@asynccontextmanager
async def process(command: str, env: dict[str, str], cwd: Path) -> AsyncIterator[asyncio.subprocess.Process]:
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot.app.cli",
        command,
        env=env,
        cwd=cwd,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        yield child
    finally:
        if child.returncode is None:
            child.send_signal(signal.SIGTERM)
            async with asyncio.timeout(15):
                await child.wait()


async def wait_ready(url: str) -> httpx.Response:
    async with httpx.AsyncClient() as client, asyncio.timeout(20):
        while True:
            try:
                response = await client.get(url)
                if response.status_code == 200:
                    return response
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.1)


def environment(slack_sim: SlackSimulator, database: str, port: int) -> dict[str, str]:
    keep = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "CASHBOT_", "DATABASE_"))}
    return keep | {
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_BOT_TOKEN": slack_sim.issue_bot_token(),
        "SLACK_API_URL": slack_sim.base_url + "/api/",
        "CASHBOT_ENCRYPTION_KEYS": generate_key(),
        "CASHBOT_AUDIT_KEY": AUDIT_KEY,
        "DATABASE_URL": database,
        "PORT": str(port),
        "HOST": "127.0.0.1",
        "PUBLIC_URL": f"http://127.0.0.1:{port}",
        "LOG_FORMAT": "json",
        "CASHBOT_WORKER_METRICS_PORT": str(free_port()),
    }


async def test_serve_migrates_answers_and_stops_on_sigterm(slack_sim: SlackSimulator, tmp_path: Path) -> None:
    port = free_port()
    env = environment(slack_sim, f"sqlite+aiosqlite:///{tmp_path / 'cashbot.db'}", port)
    async with process("serve", env, tmp_path) as child:
        ready = await wait_ready(f"http://127.0.0.1:{port}/readyz")
        slack = SlackRequests(f"http://127.0.0.1:{port}", SIGNING_SECRET)
        answer = await slack.command("/cashbot", "help")
        await slack.aclose()
        child.send_signal(signal.SIGTERM)
        async with asyncio.timeout(15):
            output = (await child.stdout.read()).decode() if child.stdout else ""
            code = await child.wait()

    assert ready.json() == {"status": "ready"}
    assert answer.status_code == 200 and "/cashbot help" in answer.text
    assert code == 0, output
    assert "worker.started" in output and "Traceback" not in output
    # Single-workspace mode: Bolt is given the client alone, so it has no token to warn about.
    assert "will be unused" not in output
    assert "secret" not in output.lower().replace("signing_secret", "")


async def test_web_without_migrations_is_not_ready_and_worker_runs(
    slack_sim: SlackSimulator, tmp_path: Path, database_url: str
) -> None:
    port = free_port()
    empty = f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}"
    async with process("web", environment(slack_sim, empty, port), tmp_path), httpx.AsyncClient() as client:
        await wait_ready(f"http://127.0.0.1:{port}/healthz")
        ready = await client.get(f"http://127.0.0.1:{port}/readyz")
    async with process("worker", environment(slack_sim, database_url, free_port()), tmp_path) as worker:
        output = await read_until(worker, "worker.leadership")
        worker.send_signal(signal.SIGTERM)
        async with asyncio.timeout(15):
            output += await read_rest(worker)
            code = await worker.wait()

    assert ready.status_code == 503
    assert code == 0 and "worker.started" in output and "worker.leadership" in output


@pytest.mark.parametrize("command", ["serve", "web", "worker"])
@pytest.mark.parametrize("delay", [0.0, 0.3, 1.0])
async def test_a_stop_at_any_moment_of_start_up_exits_cleanly_and_releases_the_lease(
    slack_sim: SlackSimulator, tmp_path: Path, database_url: str, command: str, delay: float
) -> None:
    """SIGTERM from the moment our code runs (its handler is installed) to the end of start-up."""
    env = environment(slack_sim, database_url, free_port())
    async with process(command, env, tmp_path) as child:
        await wait_until_catching_sigterm(child.pid)
        await asyncio.sleep(delay)
        child.send_signal(signal.SIGTERM)
        async with asyncio.timeout(20):
            output = await read_rest(child)
            code = await child.wait()

    assert code == 0, output
    assert "Traceback" not in output
    assert await lease_holders(database_url) == [], "a stopped worker leaves no lease behind"


async def wait_until_catching_sigterm(pid: int) -> None:
    """Until the process has installed its SIGTERM handler (read from /proc: no guessed sleep)."""
    status = Path(f"/proc/{pid}/status")
    async with asyncio.timeout(20):
        while True:
            caught = next(line for line in status.read_text().splitlines() if line.startswith("SigCgt:"))
            if int(caught.split()[1], 16) & (1 << (signal.SIGTERM - 1)):
                return
            await asyncio.sleep(0.005)


async def read_until(child: asyncio.subprocess.Process, marker: str) -> str:
    """The output up to and including the first line holding `marker`."""
    assert child.stdout is not None
    seen = ""
    async with asyncio.timeout(20):
        while marker not in seen:
            line = await child.stdout.readline()
            assert line, f"the process ended before {marker!r}:\n{seen}"
            seen += line.decode()
    return seen


async def read_rest(child: asyncio.subprocess.Process) -> str:
    return (await child.stdout.read()).decode() if child.stdout else ""


async def lease_holders(database_url: str) -> list[str]:
    database = Database(database_url, clock=SystemClock())
    try:
        async with database.read() as session:
            # The leader lease only: the nightly jobs' "done for today" markers are rows there too.
            query = select(JobLease.owner).where(JobLease.name == LEASE_NAME)
            return list((await session.execute(query)).scalars())
    finally:
        await database.dispose()


async def test_the_command_line_installs_its_stop_handler_before_anything_heavy_is_loaded() -> None:
    """The start-up handler is set on main()'s first line: importing bot.app.cli must stay light."""
    heavy = ("sqlalchemy", "slack_bolt", "uvicorn")
    probe = f"import sys, bot.app.cli; print(sorted(m for m in {heavy!r} if m in sys.modules))"
    child = await asyncio.create_subprocess_exec(
        sys.executable, "-c", probe, stdout=asyncio.subprocess.PIPE, cwd=Path(__file__).resolve().parents[2]
    )
    output, _ = await child.communicate()

    assert output.decode().strip() == "[]"

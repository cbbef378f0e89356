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

from bot.sandbox.slack import SlackSimulator
from bot.sandbox.slack_requests import SlackRequests
from storage.crypto import generate_key
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
        await asyncio.sleep(1.5)
        worker.send_signal(signal.SIGTERM)
        async with asyncio.timeout(15):
            output = (await worker.stdout.read()).decode() if worker.stdout else ""
            code = await worker.wait()

    assert ready.status_code == 503
    assert code == 0 and "worker.started" in output and "worker.leadership" in output

"""`cashbot demo`: the whole bot against the built-in simulators, with no account anywhere.

It starts the Slack simulator (and the provider simulators), serves the bot on loopback with a
fresh SQLite database and throwaway keys, installs a demo workspace through OAuth, then runs
each demo step as Slack would: signed HTTP requests. Every answer is printed as readable text
and its Block Kit JSON written to the output folder.
"""

from __future__ import annotations

import tempfile
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import httpx

from bot.app.web import create_app
from bot.app.wiring import build_runtime
from bot.clock import SystemClock
from bot.config import Settings
from bot.demo.alerts import show_alert
from bot.demo.cash import show_cash, show_overdue, show_overdue_60
from bot.demo.context import DemoContext
from bot.demo.digest import ShiftedClock, show_digest
from bot.demo.ponto import connect_ponto, start_ponto_simulator
from bot.demo.yuki import connect_yuki, start_yuki_simulator
from bot.sandbox.server import LoopbackServer, serve_simulator
from bot.sandbox.slack import SlackSimulator
from bot.sandbox.slack_requests import SlackRequests, install_through_browser
from storage.crypto import generate_key, one_time_token

DemoStep = Callable[[DemoContext], Awaitable[None]]


async def show_help(demo: DemoContext) -> None:
    await demo.command("/cashbot", "help")


# Each issue adds its steps here, in the order a new team would meet them.
DEMO_STEPS: list[DemoStep] = [
    show_help,
    connect_ponto,
    connect_yuki,
    show_cash,
    show_overdue,
    show_overdue_60,
    show_digest,
    show_alert,
]


async def run_demo(output: str = "demo-output") -> int:
    out = _prepare_output(output)
    async with serve_simulator(SlackSimulator()) as sim:
        with tempfile.TemporaryDirectory(prefix="cashbot-demo-") as workdir:
            await _run(sim, Path(workdir), out)
    print(f"\nBlock Kit JSON of every answer: {out}")
    return 0


async def _run(sim: SlackSimulator, workdir: Path, out: Path) -> None:
    async with AsyncExitStack() as simulators:
        ponto, ponto_settings = await start_ponto_simulator(simulators)
        yuki, yuki_settings = await start_yuki_simulator(simulators)
        await _run_bot(sim, workdir, out, {"ponto": ponto, "yuki": yuki}, ponto_settings | yuki_settings)


async def _run_bot(
    sim: SlackSimulator, workdir: Path, out: Path, simulators: dict[str, Any], overrides: dict[str, Any]
) -> None:
    bot_server = LoopbackServer(lifespan="on")
    signing_secret = one_time_token()
    settings = Settings(
        slack_signing_secret=signing_secret,
        slack_client_id=sim.client_id,
        slack_client_secret=sim.client_secret,
        slack_api_url=sim.base_url + "/api/",
        slack_authorize_url=sim.base_url + "/oauth/v2/authorize",
        public_url=bot_server.url,
        database_url=f"sqlite+aiosqlite:///{workdir / 'cashbot.db'}",
        encryption_keys=(generate_key(),),
        audit_key=one_time_token(),
        log_level="WARNING",
        log_format="text",
        **overrides,
    )
    # The machine's clock, which the digest step moves forward to the digest's moment.
    runtime = build_runtime(settings, clock=ShiftedClock(SystemClock()))
    await bot_server.start(create_app(runtime, migrate_on_start=True))
    slack = SlackRequests(
        bot_server.url, signing_secret, response_url_factory=sim.new_response_url, clock=runtime.core.clock
    )
    try:
        async with httpx.AsyncClient(timeout=15) as browser:
            print(f"cashbot demo: bot at {bot_server.url}, Slack simulator at {sim.base_url}")
            installed = await install_through_browser(bot_server.url, client=browser)
            print(f"Installed the demo workspace through Slack OAuth (HTTP {installed.status_code}).")
            demo = DemoContext(runtime, bot_server.url, slack, sim, out, browser, simulators)
            for step in DEMO_STEPS:
                await step(demo)
    finally:
        await slack.aclose()
        await bot_server.stop()


def _prepare_output(output: str) -> Path:
    out = Path(output).resolve()
    out.mkdir(parents=True, exist_ok=True)
    return out

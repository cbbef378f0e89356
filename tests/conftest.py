"""Shared fixtures: the Slack simulator, a fresh database per test, and the bot on loopback."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.sandbox.server import serve_simulator
from bot.sandbox.slack import SlackSimulator
from tests.harness import BotUnderTest, DatabaseFactory, bot_settings, running_bot

os.environ.setdefault("SKIP_SLACK_SDK_WARNING", "1")

pytest_plugins = ["tests.yuki_support"]


@pytest.fixture(scope="session")
async def databases(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[DatabaseFactory]:
    factory = DatabaseFactory(Path(tmp_path_factory.mktemp("databases")))
    await factory.prepare()
    yield factory
    await factory.cleanup()


@pytest.fixture(scope="session")
async def slack_server() -> AsyncIterator[SlackSimulator]:
    async with serve_simulator(SlackSimulator()) as sim:
        yield sim


@pytest.fixture
async def slack_sim(slack_server: SlackSimulator) -> SlackSimulator:
    slack_server.reset()
    return slack_server


@pytest.fixture
async def database_url(databases: DatabaseFactory) -> str:
    return await databases.fresh_url()


@pytest.fixture
async def bot(database_url: str, slack_sim: SlackSimulator) -> AsyncIterator[BotUnderTest]:
    """The bot in single-workspace mode (SLACK_BOT_TOKEN), on a fresh database."""
    async with running_bot(bot_settings(database_url, slack_sim), slack_sim) as running:
        yield running

"""Fixtures for everything Yuki: the simulator on loopback, reseeded for each test."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from bot.sandbox.server import LoopbackServer
from bot.sandbox.yuki import YukiSimulator


@pytest.fixture(scope="session")
async def yuki_server() -> AsyncIterator[YukiSimulator]:
    sim = YukiSimulator()
    async with LoopbackServer(sim.app) as server:
        sim.base_url = server.url
        yield sim


@pytest.fixture
async def yuki_sim(yuki_server: YukiSimulator) -> YukiSimulator:
    """The simulator with its seeded books, no sessions, no faults, no calls recorded."""
    yuki_server.reseed()
    return yuki_server

"""Fixtures for the Ponto client tests: the simulator, an HTTP client, a user token."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from bot.providers.ponto.api import PontoClient, TokenSet, Transport
from bot.sandbox.ponto import PontoSimulator
from tests.ponto_support import FAST, Sleeps, StaticTokens, consent_tokens, ponto_sim

__all__ = ["ponto_sim"]


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=5) as client:
        yield client


@pytest.fixture
async def issued(ponto_sim: PontoSimulator, http: httpx.AsyncClient) -> TokenSet:
    return await consent_tokens(ponto_sim.base_url, http)


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
def client(
    ponto_sim: PontoSimulator, http: httpx.AsyncClient, issued: TokenSet, sleeps: Sleeps
) -> PontoClient:
    transport = Transport(http, ponto_sim.base_url, policy=FAST, sleep=sleeps)
    return PontoClient(transport, StaticTokens(issued.access_token))

"""Outbound calls: retries with jitter on 5xx and timeouts, Retry-After obeyed, a total deadline."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route

from bot.errors import ProviderUnavailable
from bot.providers.http import ResilientSender, RetryPolicy, full_jitter, retry_after_seconds
from bot.sandbox.server import LoopbackServer


class Script:
    """A server that answers from a list of canned responses, and counts requests."""

    def __init__(self) -> None:
        self.answers: list[str] = []
        self.hits = 0
        self.app = Starlette(routes=[Route("/x", self.handle, methods=["GET", "POST"])])

    async def handle(self, request: Request) -> Response:
        self.hits += 1
        answer = self.answers.pop(0) if self.answers else "200"
        if answer == "drip":
            return StreamingResponse(_drip(), media_type="text/plain")
        if answer == "hang":
            await asyncio.sleep(30)
        status, _, retry_after = answer.partition(":")
        headers = {"Retry-After": retry_after} if retry_after else {}
        return PlainTextResponse(f"answer {status}", status_code=int(status), headers=headers)


async def _drip() -> AsyncIterator[bytes]:
    for _ in range(100):
        yield b"."
        await asyncio.sleep(0.2)


@pytest.fixture
async def server() -> AsyncIterator[tuple[Script, str]]:
    script = Script()
    async with LoopbackServer(script.app) as running:
        yield script, running.url + "/x"


class Sleeps:
    """Records the waits the sender asks for, and waits a token amount of real time."""

    def __init__(self) -> None:
        self.asked: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.asked.append(seconds)
        await asyncio.sleep(0)


def sender(client: httpx.AsyncClient, sleeps: Sleeps, **policy: object) -> ResilientSender:
    return ResilientSender(client, "test", RetryPolicy(**policy), sleep=sleeps, rng=lambda: 1.0)  # type: ignore[arg-type]


async def test_5xx_is_retried_with_growing_backoff_then_succeeds(server) -> None:  # type: ignore[no-untyped-def]
    script, url = server
    script.answers = ["503", "500", "200"]
    sleeps = Sleeps()
    async with httpx.AsyncClient() as client:
        response = await sender(client, sleeps).send(lambda: client.build_request("GET", url))

    assert response.status_code == 200 and script.hits == 3
    assert sleeps.asked == [0.5, 1.0], "full jitter upper bounds: base * 2^attempt"


async def test_attempts_are_bounded_and_the_last_answer_returned(server) -> None:  # type: ignore[no-untyped-def]
    script, url = server
    script.answers = ["502"] * 10
    async with httpx.AsyncClient() as client:
        response = await sender(client, Sleeps(), attempts=4).send(lambda: client.build_request("GET", url))

    assert response.status_code == 502 and script.hits == 4


async def test_429_waits_at_least_retry_after(server) -> None:  # type: ignore[no-untyped-def]
    script, url = server
    script.answers = ["429:7", "200"]
    sleeps = Sleeps()
    async with httpx.AsyncClient() as client:
        response = await sender(client, sleeps).send(lambda: client.build_request("GET", url))

    assert response.status_code == 200
    assert len(sleeps.asked) == 1 and sleeps.asked[0] >= 7


async def test_retry_after_beyond_the_cap_is_not_waited_for(server) -> None:  # type: ignore[no-untyped-def]
    script, url = server
    script.answers = ["429:3600"]
    sleeps = Sleeps()
    async with httpx.AsyncClient() as client:
        response = await sender(client, sleeps, max_retry_after=60).send(
            lambda: client.build_request("GET", url)
        )

    assert response.status_code == 429 and sleeps.asked == [] and script.hits == 1
    assert retry_after_seconds(response) == 3600


async def test_4xx_is_not_retried(server) -> None:  # type: ignore[no-untyped-def]
    script, url = server
    script.answers = ["400", "200"]
    async with httpx.AsyncClient() as client:
        response = await sender(client, Sleeps()).send(lambda: client.build_request("POST", url))

    assert response.status_code == 400 and script.hits == 1


async def test_hanging_and_dripping_servers_hit_the_total_deadline(server) -> None:  # type: ignore[no-untyped-def]
    script, url = server
    for answer in ("hang", "drip"):
        script.answers = [answer] * 5
        async with httpx.AsyncClient(timeout=httpx.Timeout(5.0)) as client:
            started = time.monotonic()
            with pytest.raises(ProviderUnavailable, match="no answer within"):
                await sender(client, Sleeps(), deadline=0.6).send(lambda: client.build_request("GET", url))
        assert time.monotonic() - started < 2.0


async def test_connection_refused_is_a_typed_error() -> None:
    async with httpx.AsyncClient() as client:
        with pytest.raises(ProviderUnavailable, match="ConnectError"):
            await sender(client, Sleeps(), attempts=2).send(
                lambda: client.build_request("GET", "http://127.0.0.1:9/x")
            )


def test_retry_after_accepts_an_http_date_measured_against_the_servers_date() -> None:
    dated = httpx.Response(
        429, headers={"Retry-After": "Wed, 25 Nov 2026 10:00:30 GMT", "Date": "Wed, 25 Nov 2026 10:00:00 GMT"}
    )
    past = httpx.Response(
        503, headers={"Retry-After": "Wed, 25 Nov 2026 09:00:00 GMT", "Date": "Wed, 25 Nov 2026 10:00:00 GMT"}
    )
    undated = httpx.Response(429, headers={"Retry-After": "Wed, 25 Nov 2026 10:00:30 GMT"})

    assert retry_after_seconds(dated) == 30, "whatever our own clock says"
    assert retry_after_seconds(past) == 0
    assert retry_after_seconds(undated) is None, "no Date to measure against: back off as usual"
    assert retry_after_seconds(httpx.Response(429, headers={"Retry-After": "soon"})) is None
    assert retry_after_seconds(httpx.Response(429, headers={"Retry-After": "7"})) == 7


def test_jitter_stays_under_the_cap() -> None:
    policy = RetryPolicy(base_delay=0.5, max_delay=30)
    assert all(0 <= full_jitter(n, policy) <= 30 for n in range(20))


async def test_every_attempt_is_counted_by_provider_and_outcome(server) -> None:  # type: ignore[no-untyped-def]
    from prometheus_client import REGISTRY

    def count(outcome: str) -> float:
        labels = {"provider": "metered", "outcome": outcome}
        return REGISTRY.get_sample_value("cashbot_provider_calls_total", labels) or 0.0

    script, url = server
    script.answers = ["429:0", "503", "200", "404"]
    before = {o: count(o) for o in ("rate_limited", "server_error", "ok", "client_error")}
    async with httpx.AsyncClient() as client:
        metered = ResilientSender(client, "metered", RetryPolicy(), sleep=Sleeps(), rng=lambda: 0.0)
        await metered.send(lambda: client.build_request("GET", url))
        await metered.send(lambda: client.build_request("GET", url))

    assert {o: count(o) - n for o, n in before.items()} == {
        "rate_limited": 1,
        "server_error": 1,
        "ok": 1,
        "client_error": 1,
    }

"""Behind a TLS proxy: X-Forwarded-* only from trusted proxies, http pages redirected, HSTS sent."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace

import httpx

from bot.app.web import create_app
from bot.app.wiring import build_runtime
from bot.config import Settings
from bot.sandbox.server import LoopbackServer
from bot.sandbox.slack import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, SlackSimulator
from bot.sandbox.slack_requests import SlackRequests
from tests.harness import SIGNING_SECRET, bot_settings

PUBLIC = "https://cashbot.example.com"
PROXIED = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.9"}


@asynccontextmanager
async def https_bot(settings: Settings) -> AsyncIterator[str]:
    """The bot on loopback with an https PUBLIC_URL: the test plays the reverse proxy."""
    server = LoopbackServer(lifespan="on")
    await server.start(create_app(build_runtime(settings)))
    try:
        yield server.url
    finally:
        await server.stop()


def multi(database_url: str, sim: SlackSimulator, **overrides: object) -> Settings:
    settings = bot_settings(
        database_url,
        sim,
        slack_bot_token=None,
        slack_client_id=DEFAULT_CLIENT_ID,
        slack_client_secret=DEFAULT_CLIENT_SECRET,
    )
    return replace(settings, public_url=PUBLIC, **overrides)  # type: ignore[arg-type]


async def get(url: str, headers: dict[str, str] | None = None) -> httpx.Response:
    async with httpx.AsyncClient() as client:
        return await client.get(url, headers=headers, follow_redirects=False)


async def test_http_install_page_redirects_to_public_https(
    database_url: str, slack_sim: SlackSimulator
) -> None:
    async with https_bot(multi(database_url, slack_sim)) as url:
        answer = await get(f"{url}/slack/install?x=1", {"Host": "evil.example"})

    assert answer.status_code == 308
    assert answer.headers["location"] == f"{PUBLIC}/slack/install?x=1", "to PUBLIC_URL, never the Host header"


async def test_forwarded_headers_ignored_from_untrusted_peer(
    database_url: str, slack_sim: SlackSimulator
) -> None:
    # The proxy is elsewhere; the test's loopback peer is not it.
    async with https_bot(multi(database_url, slack_sim, trusted_proxies=("10.9.9.9",))) as url:
        answer = await get(f"{url}/slack/install", PROXIED)

    assert answer.status_code == 308, "a peer that is not a trusted proxy cannot claim https"
    assert "strict-transport-security" not in answer.headers


async def test_trusted_proxy_https_gets_page_with_hsts_and_headers(
    database_url: str, slack_sim: SlackSimulator
) -> None:
    settings = multi(database_url, slack_sim, trusted_proxies=("127.0.0.1",))
    async with https_bot(settings) as url:
        answer = await get(f"{url}/slack/install", PROXIED)
        page = await get(f"{url}/connect/yuki?t=expired", PROXIED)

    assert answer.status_code in (200, 302), answer.text
    assert answer.headers["strict-transport-security"].startswith("max-age=")
    assert answer.headers["x-content-type-options"] == "nosniff"
    assert answer.headers["x-frame-options"] == "DENY"
    assert answer.headers["referrer-policy"] == "no-referrer"
    assert "frame-ancestors 'none'" in answer.headers["content-security-policy"]
    assert "nonce-" in page.headers["content-security-policy"], "a page's own style nonce is kept"
    assert page.headers["strict-transport-security"].startswith("max-age=")


async def test_slack_posts_over_http_are_never_redirected(
    database_url: str, slack_sim: SlackSimulator
) -> None:
    settings = replace(bot_settings(database_url, slack_sim), public_url=PUBLIC)
    async with https_bot(settings) as url:
        slack = SlackRequests(url, SIGNING_SECRET, response_url_factory=slack_sim.new_response_url)
        try:
            answer = await slack.command("/cashbot", "help")
        finally:
            await slack.aclose()
        ready = await get(f"{url}/readyz")

    assert answer.status_code == 200 and "/cashbot help" in answer.text
    assert ready.status_code == 200, "probes talk to the process directly"

"""/metrics of the web process and of the worker: the series an operator needs, behind a token."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx

from bot.sandbox.ponto import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, PontoSimulator
from bot.sandbox.slack import SlackSimulator
from storage.crypto import generate_key
from tests.app.test_process import environment, free_port, process
from tests.harness import bot_settings, running_bot
from tests.ponto_support import ponto_sim, ponto_world

__all__ = ["ponto_sim"]  # the fixture, used by name

TOKEN = "metrics-token-4f1c2e"
SERIES = (
    "cashbot_command_seconds",
    "cashbot_slack_api_calls_total",
    "cashbot_slack_rate_limited_total",
    "cashbot_provider_calls_total",
    "cashbot_sync_seconds",
    "cashbot_sync_runs_total",
    "cashbot_messages_sent_total",
    "cashbot_provider_calls_left_today",
    "cashbot_cache_lookups_total",
    "cashbot_backup_age_seconds",
)


def families(text: str) -> set[str]:
    return {line.split()[2] for line in text.splitlines() if line.startswith("# TYPE ")}


async def refuses_without_the_token(client: httpx.AsyncClient, url: str) -> None:
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN}):
        refused = await client.get(url, headers=headers)
        assert refused.status_code == 401 and "cashbot_" not in refused.text


async def test_web_metrics_need_the_token_and_show_command_latency(
    database_url: str, slack_sim: SlackSimulator
) -> None:
    settings = bot_settings(database_url, slack_sim, metrics_token=TOKEN)
    async with running_bot(settings, slack_sim) as bot, httpx.AsyncClient() as client:
        assert (await bot.slack.command("/cashbot", "help")).status_code == 200
        await refuses_without_the_token(client, bot.url + "/metrics")
        scraped = await client.get(bot.url + "/metrics", headers={"Authorization": f"Bearer {TOKEN}"})

    assert scraped.status_code == 200
    assert set(SERIES) <= families(scraped.text)
    assert 'cashbot_command_seconds_count{command="/cashbot"}' in scraped.text


async def test_without_a_token_web_metrics_are_open(database_url: str, slack_sim: SlackSimulator) -> None:
    async with running_bot(bot_settings(database_url, slack_sim), slack_sim) as bot, httpx.AsyncClient() as c:
        assert (await c.get(bot.url + "/metrics")).status_code == 200


async def test_the_worker_serves_its_own_metrics_with_its_sync_and_provider_calls(
    database_url: str, slack_sim: SlackSimulator, ponto_sim: PontoSimulator, tmp_path: Path
) -> None:
    key = generate_key()
    port = free_port()
    env = environment(slack_sim, database_url, free_port()) | {
        "CASHBOT_ENCRYPTION_KEYS": key,
        "CASHBOT_METRICS_TOKEN": TOKEN,
        "CASHBOT_WORKER_METRICS_PORT": str(port),
        "PONTO_CLIENT_ID": DEFAULT_CLIENT_ID,
        "PONTO_CLIENT_SECRET": DEFAULT_CLIENT_SECRET,
        "PONTO_API_URL": ponto_sim.base_url,
        "PONTO_AUTHORIZATION_URL": ponto_sim.base_url + "/oauth2/auth",
    }
    url = f"http://127.0.0.1:{port}/metrics"
    async with (
        ponto_world(database_url, ponto_sim, keys=(key,)),
        process("worker", env, tmp_path),
        httpx.AsyncClient() as client,
    ):
        text = await scrape_until(client, url, 'cashbot_sync_seconds_count{provider="ponto"} 1.0')
        await refuses_without_the_token(client, url)

    assert set(SERIES) <= families(text)
    assert 'cashbot_provider_calls_total{outcome="ok",provider="ponto"}' in text
    assert 'cashbot_sync_runs_total{outcome="success",provider="ponto"} 1.0' in text


async def scrape_until(client: httpx.AsyncClient, url: str, wanted: str) -> str:
    """The worker's metrics once `wanted` shows (its first sync runs right after it starts)."""
    text = ""
    async with asyncio.timeout(30):
        while wanted not in text:
            await asyncio.sleep(0.2)
            try:
                text = (await client.get(url, headers={"Authorization": f"Bearer {TOKEN}"})).text
            except httpx.TransportError:
                continue
    return text

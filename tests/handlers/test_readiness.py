"""/healthz and /readyz tell an operator (or a load balancer) what is wrong, and the bot stays up."""

from __future__ import annotations

from pathlib import Path

import httpx

from bot.sandbox.slack import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, SlackSimulator
from tests.harness import BotUnderTest, DatabaseFactory, bot_settings, running_bot


async def get(url: str) -> httpx.Response:
    async with httpx.AsyncClient() as client:
        return await client.get(url)


async def test_ready_when_database_is_migrated_and_writable(bot: BotUnderTest) -> None:
    health = await get(f"{bot.url}/healthz")
    ready = await get(f"{bot.url}/readyz")

    assert health.status_code == 200
    assert ready.status_code == 200 and ready.json() == {"status": "ready"}


async def test_not_ready_before_migrations(databases: DatabaseFactory, slack_sim: SlackSimulator) -> None:
    async with running_bot(bot_settings(await databases.empty_url(), slack_sim), slack_sim) as bot:
        ready = await get(f"{bot.url}/readyz")

    assert ready.status_code == 503
    assert any("cashbot migrate" in problem for problem in ready.json()["problems"])


async def test_unreachable_database_keeps_process_up_and_commands_polite(
    slack_sim: SlackSimulator,
) -> None:
    settings = bot_settings(
        "sqlite+aiosqlite:////nonexistent-dir/cashbot.db",
        slack_sim,
        slack_bot_token=None,
        slack_client_id=DEFAULT_CLIENT_ID,
        slack_client_secret=DEFAULT_CLIENT_SECRET,
    )
    async with running_bot(settings, slack_sim) as bot:
        ready = await get(f"{bot.url}/readyz")
        command = await bot.slack.command("/cashbot", "help")
        health = await get(f"{bot.url}/healthz")

    assert ready.status_code == 503
    assert any("unreachable" in problem for problem in ready.json()["problems"])
    assert command.status_code == 200
    assert "temporarily unavailable" in command.json()["text"]
    assert command.json()["response_type"] == "ephemeral"
    assert health.status_code == 200


async def test_read_only_database_is_reported(databases: DatabaseFactory, slack_sim: SlackSimulator) -> None:
    async with running_bot(bot_settings(await databases.read_only_url(), slack_sim), slack_sim) as bot:
        ready = await get(f"{bot.url}/readyz")
        help_answer = await bot.slack.command("/cashbot", "help")

    assert ready.status_code == 503
    assert "database is read-only" in ready.json()["problems"]
    assert "/cashbot help" in help_answer.text, "reading commands keep working"


async def test_disk_nearly_full_is_reported(database_url: str, slack_sim: SlackSimulator) -> None:
    async with running_bot(bot_settings(database_url, slack_sim, min_free_disk_mb=10**7), slack_sim) as bot:
        ready = await get(f"{bot.url}/readyz")

    assert ready.status_code == 503
    assert any("disk nearly full" in problem for problem in ready.json()["problems"])


async def test_disk_nearly_full_at_the_probe_fails_readiness(
    database_url: str, slack_sim: SlackSimulator, tmp_path: Path
) -> None:
    backups = tmp_path / "backups"
    free = {"bytes": 500 * 1024 * 1024}

    def probe(folder: Path) -> int:  # the machine's free-disk answer, at the process edge
        return free["bytes"] if folder.is_relative_to(tmp_path) else 10**12

    settings = bot_settings(database_url, slack_sim, min_free_disk_mb=100, backup_dir=str(backups))
    async with running_bot(settings, slack_sim, disk_free=probe) as bot:
        roomy = await get(f"{bot.url}/readyz")
        free["bytes"] = 40 * 1024 * 1024
        full = await get(f"{bot.url}/readyz")

    assert roomy.status_code == 200
    assert full.status_code == 503
    assert any("disk nearly full (40 MB free" in problem for problem in full.json()["problems"])

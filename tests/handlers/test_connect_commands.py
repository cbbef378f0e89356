"""/cashbot connect|disconnect|status through the bot's HTTP server, with a provider plugged in.

`RecordingPlugin` stands in for a provider's plugin (Ponto's and Yuki's are tested in their own
files); what is under test is the shared command flow: who may, the one-time link, the audit.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import select

from bot.domain import Provider
from bot.providers.base import DisconnectResult
from bot.providers.connections import ConnectionView
from bot.sandbox.slack import SlackSimulator
from storage.crypto import token_hash
from storage.models import AuditEvent, ConnectLink
from tests.harness import BotUnderTest, bot_settings, running_bot


class RecordingPlugin:
    provider = Provider.PONTO
    title = "Ponto"

    def __init__(self, problem: str | None = None) -> None:
        self.problem = problem
        self.disconnected: list[int] = []

    def configuration_problem(self) -> str | None:
        return self.problem

    async def disconnect(self, workspace_id: int) -> DisconnectResult:
        self.disconnected.append(workspace_id)
        return DisconnectResult(had_connection=True, revoked_at_provider=True)

    async def status_facts(self, view: ConnectionView) -> list[str]:
        return ["Bank consent renews in 80 days"]


@pytest.fixture
async def plugged(
    database_url: str, slack_sim: SlackSimulator
) -> AsyncIterator[tuple[BotUnderTest, RecordingPlugin]]:
    plugin = RecordingPlugin()
    async with running_bot(
        bot_settings(database_url, slack_sim),
        slack_sim,
        customize=lambda rt: rt.providers.plugins.append(plugin),
    ) as bot:
        yield bot, plugin


def button_url(payload: dict) -> str:
    for block in payload["blocks"]:
        for element in block.get("elements", []):
            if element.get("url"):
                return str(element["url"])
    raise AssertionError("no link button")


async def audit_actions(bot: BotUnderTest) -> list[tuple[str, str, str]]:
    async with bot.runtime.core.database.read() as session:
        rows = (await session.execute(select(AuditEvent).order_by(AuditEvent.id))).scalars()
        return [(r.actor, r.action, r.outcome) for r in rows]


async def test_admin_gets_a_one_time_link_stored_hashed(plugged) -> None:  # type: ignore[no-untyped-def]
    bot, _ = plugged

    response = await bot.slack.command("/cashbot", "connect ponto", user_id="U0ADMIN")

    payload = response.json()
    assert payload["response_type"] == "ephemeral"
    url = button_url(payload)
    assert url.startswith(f"{bot.url}/connect/ponto?t=")
    token = parse_qs(urlsplit(url).query)["t"][0]
    async with bot.runtime.core.database.read() as session:
        link = (await session.execute(select(ConnectLink))).scalar_one()
    assert link.token_hash == token_hash(token) and link.slack_user_id == "U0ADMIN"
    assert ("U0ADMIN", "connect.ponto.link_issued", "ok") in await audit_actions(bot)


async def test_member_is_refused_politely_and_audited(plugged) -> None:  # type: ignore[no-untyped-def]
    bot, plugin = plugged

    connect = await bot.slack.command("/cashbot", "connect ponto", user_id="U0MEMBER")
    disconnect = await bot.slack.command("/cashbot", "disconnect ponto", user_id="U0MEMBER")

    assert "workspace admins" in connect.json()["text"]
    assert "workspace admins" in disconnect.json()["text"]
    assert plugin.disconnected == []
    actions = await audit_actions(bot)
    assert ("U0MEMBER", "connect.ponto", "denied") in actions
    assert ("U0MEMBER", "disconnect.ponto", "denied") in actions


async def test_unconfigured_provider_says_what_is_missing(
    database_url: str, slack_sim: SlackSimulator
) -> None:
    plugin = RecordingPlugin(problem="set PONTO_CLIENT_ID and PONTO_CLIENT_SECRET")
    async with running_bot(
        bot_settings(database_url, slack_sim),
        slack_sim,
        customize=lambda rt: rt.providers.plugins.append(plugin),
    ) as bot:
        response = await bot.slack.command("/cashbot", "connect ponto")

    assert "PONTO_CLIENT_ID" in str(response.json()["blocks"])


async def test_disconnect_calls_the_plugin_and_is_audited(plugged) -> None:  # type: ignore[no-untyped-def]
    bot, plugin = plugged

    response = await bot.slack.command("/cashbot", "disconnect ponto")

    assert plugin.disconnected == [await bot.runtime.services.workspaces.workspace_id("T0CASHBOT")]
    assert "revoked" in str(response.json()["blocks"])
    assert ("U0ADMIN", "disconnect.ponto", "ok") in await audit_actions(bot)


async def test_status_and_usage(plugged) -> None:  # type: ignore[no-untyped-def]
    bot, _ = plugged
    workspace_id = await bot.runtime.services.workspaces.workspace_id("T0CASHBOT")
    await bot.runtime.services.connections.save(
        workspace_id, Provider.PONTO, {"refresh_token": "r"}, connected_by="U0ADMIN", external_name="Acme NV"
    )

    status = await bot.slack.command("/cashbot", "status", user_id="U0MEMBER")
    bare = await bot.slack.command("/cashbot", "connect")
    unknown = await bot.slack.command("/cashbot", "connect quickbooks")

    text = str(status.json()["blocks"])
    assert "Ponto" in text and "active" in text and "Acme NV" in text and "Bank consent renews" in text
    assert "/cashbot connect ponto" in bare.json()["text"]
    assert "/cashbot connect ponto" in unknown.json()["text"]


async def test_a_rate_limited_users_info_does_not_hold_the_command(plugged) -> None:  # type: ignore[no-untyped-def]
    """users.info answering 429 with a long Retry-After: the command still answers at once."""
    import time

    from bot.sandbox.slack import Failure

    bot, _ = plugged
    bot.sim.fail("users.info", Failure("ratelimited", retry_after=30, times=3))
    started = time.monotonic()

    response = await bot.slack.command("/cashbot", "connect ponto", user_id="U0ADMIN")

    assert time.monotonic() - started < 2.5
    assert "workspace admins" in response.json()["text"], "unknown admin flag: treated as a member"

"""/cashbot help through the bot's HTTP server, and the usage for anything it does not know."""

from __future__ import annotations

from tests.harness import BotUnderTest


def _texts(payload: dict) -> str:
    parts = [payload.get("text", "")]
    for block in payload.get("blocks", []):
        parts.append((block.get("text") or {}).get("text", ""))
        parts.extend(element.get("text", "") for element in block.get("elements", []))
    return "\n".join(parts)


async def test_help_lists_commands_ephemerally(bot: BotUnderTest) -> None:
    response = await bot.slack.command("/cashbot", "help")

    assert response.status_code == 200
    payload = response.json()
    assert payload["response_type"] == "ephemeral"
    assert "/cashbot help" in _texts(payload)
    assert payload["text"], "a fallback text is required for notifications and screen readers"


async def test_bare_cashbot_shows_help(bot: BotUnderTest) -> None:
    response = await bot.slack.command("/cashbot", "")

    assert "/cashbot help" in _texts(response.json())


async def test_help_is_generated_from_registered_commands(bot: BotUnderTest) -> None:
    from handlers.catalog import CommandSpec

    async def noop(request, actor):  # pragma: no cover - never called
        raise AssertionError

    bot.runtime.slack.router.add("frobnicate", CommandSpec("/cashbot frobnicate", "Frobnicates"), noop)

    text = _texts((await bot.slack.command("/cashbot", "help")).json())

    assert "/cashbot frobnicate" in text and "Frobnicates" in text


async def test_unknown_subcommand_gets_usage_not_a_trace(bot: BotUnderTest) -> None:
    response = await bot.slack.command("/cashbot", "explode <!channel> now")

    payload = response.json()
    text = _texts(payload)
    assert response.status_code == 200
    assert payload["response_type"] == "ephemeral"
    assert "Usage" in text and "/cashbot help" in text
    assert "<!channel>" not in text, "user text must be escaped, never echoed as a mention"
    assert "<!channel>" not in payload["text"], "the fallback text too"
    assert "Traceback" not in text

"""Odd but correctly signed Slack requests get a 400, never a 500 with a traceback (issue 14, 4)."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest

from tests.harness import BotUnderTest

FORM = "application/x-www-form-urlencoded"


def action_payload(bot: BotUnderTest, action_id: str = "overdue_more", value: str = "") -> dict[str, Any]:
    body = bot.slack.block_action_body(action_id, value)
    payload: dict[str, Any] = json.loads(parse_qs(body)["payload"][0])
    return payload


async def post_payload(bot: BotUnderTest, payload: dict[str, Any]) -> Any:
    return await bot.slack.post_raw(urlencode({"payload": json.dumps(payload)}), FORM)


def no_trace(caplog: pytest.LogCaptureFixture) -> None:
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]
    assert not errors, [r.getMessage() for r in errors]


async def test_block_actions_with_no_actions_is_400(
    bot: BotUnderTest, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    payload = action_payload(bot)
    payload["actions"] = []

    response = await post_payload(bot, payload)

    assert response.status_code == 400
    no_trace(caplog)
    assert any(getattr(r, "reason", None) == "no_actions" for r in caplog.records)


@pytest.mark.parametrize("action_id", ["overdue_more", "cash_sync_now", "cashbot_connect_ponto"])
async def test_a_message_button_without_response_url_is_400(
    bot: BotUnderTest, caplog: pytest.LogCaptureFixture, action_id: str
) -> None:
    caplog.set_level(logging.INFO)
    payload = action_payload(bot, action_id)
    del payload["response_url"]

    response = await post_payload(bot, payload)

    assert response.status_code == 400
    no_trace(caplog)


async def test_a_home_tab_button_needs_no_response_url(bot: BotUnderTest) -> None:
    payload = action_payload(bot, "home_connect", "ponto")
    del payload["response_url"]
    payload["container"] = {"type": "view", "view_id": "V0HOME"}
    payload["view"] = {"id": "V0HOME", "type": "home", "callback_id": ""}

    response = await post_payload(bot, payload)

    assert response.status_code == 200


@pytest.mark.parametrize(
    ("field", "value"),
    [("team", 7), ("user", ["U0ADMIN"]), ("channel", "C0FINANCE"), ("authorizations", 3), ("view", "v")],
)
async def test_fields_of_a_shape_slack_never_sends_are_400(
    bot: BotUnderTest, caplog: pytest.LogCaptureFixture, field: str, value: object
) -> None:
    caplog.set_level(logging.INFO)
    payload = action_payload(bot)
    payload[field] = value

    response = await post_payload(bot, payload)

    assert response.status_code == 400
    no_trace(caplog)


async def test_a_message_button_clicked_in_a_modal_without_response_url_is_400(
    bot: BotUnderTest, caplog: pytest.LogCaptureFixture
) -> None:
    """Found by the property test: "Show more" answers through response_url, which a view lacks."""
    caplog.set_level(logging.INFO)
    payload = action_payload(bot, "overdue_more", "{}")
    del payload["response_url"]
    payload["container"] = {"type": "view", "view_id": "V0MODAL"}
    payload["view"] = {"id": "V0MODAL", "type": "modal", "callback_id": "home_answer"}

    response = await post_payload(bot, payload)

    assert response.status_code == 400
    no_trace(caplog)


async def test_a_view_submission_whose_view_is_null_is_400(
    bot: BotUnderTest, caplog: pytest.LogCaptureFixture
) -> None:
    """Found by the property test: Bolt looks for `callback_id` inside a null view."""
    caplog.set_level(logging.INFO)
    payload = action_payload(bot)
    payload["type"], payload["view"] = "view_submission", None

    response = await post_payload(bot, payload)

    assert response.status_code == 400
    no_trace(caplog)


async def test_an_event_that_is_not_an_object_is_400(
    bot: BotUnderTest, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    body = json.loads(bot.slack.event_body({"type": "app_home_opened", "user": "U0ADMIN"}))
    body["event"] = "app_home_opened"

    response = await bot.slack.post_raw(json.dumps(body), "application/json")

    assert response.status_code == 400
    no_trace(caplog)


async def test_a_signed_body_that_is_not_utf8_is_400_bad_request_not_bad_signature(
    bot: BotUnderTest, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    body = bot.slack.command_body("/cashbot", "help").encode() + b"&x=\xff\xfe"

    response = await bot.slack.post_raw(body, FORM)

    assert response.status_code == 400
    reasons = [
        getattr(r, "reason", None) for r in caplog.records if r.getMessage() == "slack.request_refused"
    ]
    assert reasons == ["not_utf8"]


async def test_a_deeply_nested_payload_is_400(bot: BotUnderTest, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    response = await bot.slack.post_raw("[" * 100_000 + "]" * 100_000, "application/json")

    assert response.status_code == 400
    no_trace(caplog)


async def test_a_client_that_hangs_up_mid_body_leaves_no_traceback(
    bot: BotUnderTest, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    body = bot.slack.command_body("/cashbot", "help").encode()
    headers = bot.slack.signed_headers(body, FORM)
    url = urlsplit(bot.url)
    _, writer = await asyncio.open_connection(url.hostname, url.port)
    head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    writer.write(
        f"POST /slack/events HTTP/1.1\r\nHost: {url.netloc}\r\n{head}"
        f"Content-Length: {len(body) + 500}\r\n\r\n".encode()
        + body[:40]
    )
    await writer.drain()
    await asyncio.sleep(0.2)
    writer.close()
    await writer.wait_closed()
    await asyncio.sleep(0.3)

    no_trace(caplog)
    assert any(r.getMessage() == "http.client_disconnected" for r in caplog.records)
    assert (await bot.slack.command("/cashbot", "help")).status_code == 200

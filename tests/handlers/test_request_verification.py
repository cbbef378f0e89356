"""Forged, replayed and malformed Slack requests are refused before any handler runs."""

from __future__ import annotations

import logging
import time

import pytest

from tests.harness import BotUnderTest


async def test_bad_signature_is_401_and_body_never_logged(
    bot: BotUnderTest, caplog: pytest.LogCaptureFixture
) -> None:
    body = bot.slack.command_body("/cashbot", "help secret-text-in-body")
    caplog.set_level(logging.DEBUG)

    response = await bot.slack.post_raw(body, "application/x-www-form-urlencoded", signature="v0=" + "0" * 64)

    assert response.status_code == 401
    assert "secret-text-in-body" not in caplog.text
    assert not bot.sim.responses


async def test_signature_from_another_secret_is_401(bot: BotUnderTest) -> None:
    from bot.sandbox.slack_requests import sign

    body = bot.slack.command_body("/cashbot", "help")
    ts = str(int(time.time()))
    response = await bot.slack.post_raw(
        body,
        "application/x-www-form-urlencoded",
        timestamp=int(ts),
        signature=sign("another-secret", ts, body),
    )

    assert response.status_code == 401


async def test_tampered_body_is_401(bot: BotUnderTest) -> None:
    body = bot.slack.command_body("/cashbot", "help")
    headers = bot.slack.signed_headers(body, "application/x-www-form-urlencoded")
    tampered = body.replace("help", "status")

    import httpx

    async with httpx.AsyncClient() as client:
        response = await client.post(bot.slack.events_url, content=tampered, headers=headers)

    assert response.status_code == 401


@pytest.mark.parametrize("age", [310, -310, 3600])
async def test_replayed_or_future_request_is_401(bot: BotUnderTest, age: int) -> None:
    body = bot.slack.command_body("/cashbot", "help")

    response = await bot.slack.post_raw(
        body, "application/x-www-form-urlencoded", timestamp=int(time.time()) - age
    )

    assert response.status_code == 401


async def test_request_just_inside_the_window_is_answered(bot: BotUnderTest) -> None:
    body = bot.slack.command_body("/cashbot", "help")

    response = await bot.slack.post_raw(
        body, "application/x-www-form-urlencoded", timestamp=int(time.time()) - 290
    )

    assert response.status_code == 200


async def test_missing_headers_and_non_numeric_timestamp_are_401(bot: BotUnderTest) -> None:
    import httpx

    body = bot.slack.command_body("/cashbot", "help")
    async with httpx.AsyncClient() as client:
        bare = await client.post(bot.slack.events_url, content=body)
        weird = await client.post(
            bot.slack.events_url,
            content=body,
            headers={"x-slack-request-timestamp": "yesterday", "x-slack-signature": "v0=abc"},
        )

    assert bare.status_code == 401
    assert weird.status_code == 401


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        ("{not json", "application/json"),
        ("[1, 2, 3]", "application/json"),
        ("payload=%7Bbroken", "application/x-www-form-urlencoded"),
        ("payload=%5B%5D", "application/x-www-form-urlencoded"),
        ("\udcff", "application/x-www-form-urlencoded"),
        ("hello", "text/plain"),
    ],
)
async def test_signed_but_malformed_body_is_400(
    bot: BotUnderTest, caplog: pytest.LogCaptureFixture, body: str, content_type: str
) -> None:
    caplog.set_level(logging.INFO)
    raw = body.encode("utf-8", "surrogateescape").decode("latin-1") if "\udcff" in body else body

    response = await bot.slack.post_raw(raw, content_type)

    assert response.status_code == 400
    assert "Traceback" not in caplog.text


async def test_url_verification_and_ssl_check_are_answered(bot: BotUnderTest) -> None:
    import json

    challenge = await bot.slack.post_raw(
        json.dumps(
            {
                "token": "t",
                "challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P",
                "type": "url_verification",
            }
        ),
        "application/json",
    )
    ssl_check = await bot.slack.post_raw("ssl_check=1&token=t", "application/x-www-form-urlencoded")

    assert (
        challenge.status_code == 200
        and "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P" in challenge.text
    )
    assert ssl_check.status_code == 200


async def test_an_oversized_body_is_refused_without_being_buffered(bot: BotUnderTest) -> None:
    import httpx

    async def endless():  # type: ignore[no-untyped-def]
        for _ in range(2048):
            yield b"x" * 1024  # 2 MiB in all, streamed without a Content-Length

    async with httpx.AsyncClient() as client:
        streamed = await client.post(
            bot.slack.events_url, content=endless(), headers={"content-type": "text/plain"}
        )
        declared = await client.post(bot.slack.events_url, content=b"x" * (1024 * 1024 + 1))

    assert streamed.status_code == 413
    assert declared.status_code == 413

"""Connecting Ponto through the bot's HTTP server: Slack command, one-time link, consent at the
simulator, callback; every hostile callback refused with nothing stored; disconnect revokes."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import AsyncIterator
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from sqlalchemy import select, update

from bot.sandbox.ponto import Failure, PontoSimulator
from bot.sandbox.slack import SlackSimulator
from storage.crypto import token_hash
from storage.models import AuditEvent, Connection, OAuthState, SyncRun
from tests.handlers.test_connect_commands import button_url
from tests.handlers.test_slack_install import dump_all_rows
from tests.harness import BotUnderTest, bot_settings, running_bot
from tests.ponto_support import ponto_settings, ponto_sim

__all__ = ["ponto_sim"]


@pytest.fixture
async def bot(
    database_url: str, slack_sim: SlackSimulator, ponto_sim: PontoSimulator
) -> AsyncIterator[BotUnderTest]:
    settings = bot_settings(database_url, slack_sim, **ponto_settings(ponto_sim))
    async with running_bot(settings, slack_sim) as running:
        yield running


@pytest.fixture
async def browser() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=10) as client:  # keeps cookies, follows nothing by itself
        yield client


async def connect_link(bot: BotUnderTest) -> str:
    return button_url((await bot.slack.command("/cashbot", "connect ponto", user_id="U0ADMIN")).json())


async def consent(browser: httpx.AsyncClient, link: str) -> str:
    """Open the link and let Ponto approve; the callback URL Ponto redirects the browser to."""
    start = await browser.get(link)
    assert start.status_code == 302, start.text
    approve = await browser.get(start.headers["location"])
    assert approve.status_code == 302
    return str(approve.headers["location"])


async def connections(bot: BotUnderTest) -> list[Connection]:
    async with bot.runtime.core.database.read() as session:
        return list((await session.execute(select(Connection))).scalars())


def slack_posts(bot: BotUnderTest) -> list[str]:
    return [
        str(c.params.get("text"))
        for c in bot.sim.calls_to("chat.postMessage")
        if c.params.get("channel") == "U0ADMIN"
    ]


async def test_the_full_consent_flow_connects_ponto(
    bot: BotUnderTest, browser: httpx.AsyncClient, ponto_sim: PontoSimulator, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    link = await connect_link(bot)
    start = await browser.get(link)

    assert start.status_code == 302
    target = urlsplit(start.headers["location"])
    query = {k: v[0] for k, v in parse_qs(target.query).items()}
    assert start.headers["location"].startswith(ponto_sim.base_url + "/oauth2/auth?")
    assert query["redirect_uri"] == bot.url + "/oauth/ponto/callback"
    assert query["code_challenge_method"] == "S256" and len(query["state"]) >= 43
    assert query["scope"] == "ai offline_access name"
    assert start.headers["referrer-policy"] == "no-referrer" and start.headers["cache-control"] == "no-store"
    cookie = start.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=lax" in cookie and "path=/oauth/ponto/callback" in cookie
    async with bot.runtime.core.database.read() as session:
        state = (await session.execute(select(OAuthState))).scalar_one()
    assert state.state_hash == token_hash(query["state"]) and (state.code_verifier or "").startswith("f1:")

    approve = await browser.get(start.headers["location"])
    page = await browser.get(approve.headers["location"])

    assert page.status_code == 200 and "Ponto is connected" in page.text and "Cashbot Demo BV" in page.text
    csp = page.headers["content-security-policy"]  # the same page rules as the Yuki form
    nonce = csp.split("'nonce-")[1].split("'")[0]
    assert (
        "default-src 'none'" in csp and "unsafe-inline" not in csp and f'<style nonce="{nonce}">' in page.text
    )
    assert page.headers["cache-control"] == "no-store" and page.headers["x-content-type-options"] == "nosniff"
    [connection] = await connections(bot)
    assert (connection.state, connection.external_name, connection.connected_by_user_id) == (
        "active",
        "Cashbot Demo BV",
        "U0ADMIN",
    )
    assert (connection.credentials or "").startswith("f1:")
    dump = await dump_all_rows(bot.settings.database_url)
    assert ponto_sim.live_refresh_tokens()[0] not in dump, "tokens are stored encrypted only"
    await first_sync(bot)
    secrets = [ponto_sim.live_refresh_tokens()[0], *ponto_sim.issued_access_tokens()]
    logged = "\n".join(f"{r.getMessage()} {r.__dict__}" for r in caplog.records)
    assert secrets and not [s for s in secrets if s in logged], "no Ponto token in any log line"
    dm = next(text for text in slack_posts(bot) if "Ponto is connected" in text)
    assert dm.count("connected") == 1, "said once, not as a prefix over a text that already says it"
    assert "Cashbot Demo BV" in dm
    blocks = str(next(c.params for c in bot.sim.calls_to("chat.postMessage") if c.params.get("text") == dm))
    assert "/cashbot disconnect ponto" in blocks and "/cash" in blocks, "says what comes next, as Yuki's does"
    async with bot.runtime.core.database.read() as session:
        actions = [(e.action, e.outcome) for e in (await session.execute(select(AuditEvent))).scalars()]
    assert ("connect.ponto", "ok") in actions


async def test_the_link_works_once(bot: BotUnderTest, browser: httpx.AsyncClient) -> None:
    link = await connect_link(bot)
    await browser.get(link)

    again = await browser.get(link)

    assert again.status_code == 400 and "already been used" in again.text


async def test_a_newer_link_kills_the_older_one(bot: BotUnderTest, browser: httpx.AsyncClient) -> None:
    older = await connect_link(bot)
    await connect_link(bot)

    answer = await browser.get(older)

    assert answer.status_code == 400 and "newer link" in answer.text


async def assert_refused(bot: BotUnderTest, page: httpx.Response, words: str, *, told_in_slack: bool) -> None:
    assert page.status_code == 400, page.text
    assert words in page.text
    assert "Ponto was not connected" in page.text
    assert await connections(bot) == [], "a refused callback stores nothing"
    posts = slack_posts(bot)
    assert (any("Ponto was not connected" in text for text in posts)) is told_in_slack


async def test_a_callback_without_state_is_refused(bot: BotUnderTest, browser: httpx.AsyncClient) -> None:
    page = await browser.get(f"{bot.url}/oauth/ponto/callback?code=abc")

    await assert_refused(bot, page, "incomplete", told_in_slack=False)


async def test_an_unknown_state_is_refused(bot: BotUnderTest, browser: httpx.AsyncClient) -> None:
    page = await browser.get(f"{bot.url}/oauth/ponto/callback?code=abc&state=" + "A" * 43)

    await assert_refused(bot, page, "not known", told_in_slack=False)


async def test_a_state_from_another_browser_is_refused(bot: BotUnderTest, browser: httpx.AsyncClient) -> None:
    callback = await consent(browser, await connect_link(bot))

    async with httpx.AsyncClient() as other_browser:
        page = await other_browser.get(callback)

    await assert_refused(bot, page, "another browser", told_in_slack=True)


async def test_an_expired_state_is_refused(bot: BotUnderTest, browser: httpx.AsyncClient) -> None:
    callback = await consent(browser, await connect_link(bot))
    async with bot.runtime.core.database.write() as session:  # eleven minutes pass
        await session.execute(
            update(OAuthState).values(expires_at=dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1))
        )

    page = await browser.get(callback)

    await assert_refused(bot, page, "expired", told_in_slack=True)


async def test_a_reused_state_is_refused_and_changes_nothing(
    bot: BotUnderTest, browser: httpx.AsyncClient
) -> None:
    callback = await consent(browser, await connect_link(bot))
    first = await browser.get(callback)
    [before] = await connections(bot)

    replay = await browser.get(callback)

    assert first.status_code == 200
    assert replay.status_code == 400 and "already finished" in replay.text
    [after] = await connections(bot)
    assert after.version == before.version and after.credentials == before.credentials


async def test_denied_consent_is_refused(
    bot: BotUnderTest, browser: httpx.AsyncClient, ponto_sim: PontoSimulator
) -> None:
    ponto_sim.fail("authorize", Failure("access_denied"))

    callback = await consent(browser, await connect_link(bot))
    page = await browser.get(callback)

    assert "error=access_denied" in callback
    await assert_refused(bot, page, "not granted", told_in_slack=True)
    assert ponto_sim.token_requests == [], "no code, no token request"


@pytest.mark.parametrize(
    "failure", [Failure("http_500"), Failure("no_refresh_token"), Failure("negative_expires_in")]
)
async def test_a_provider_error_at_the_token_step_is_refused(
    bot: BotUnderTest, browser: httpx.AsyncClient, ponto_sim: PontoSimulator, failure: Failure
) -> None:
    ponto_sim.fail("token", failure)

    page = await browser.get(await consent(browser, await connect_link(bot)))

    await assert_refused(bot, page, "could not complete", told_in_slack=True)


async def test_a_server_without_ponto_credentials_says_what_to_set(
    database_url: str, slack_sim: SlackSimulator, browser: httpx.AsyncClient
) -> None:
    async with running_bot(bot_settings(database_url, slack_sim), slack_sim) as bot:
        answer = (await bot.slack.command("/cashbot", "connect ponto", user_id="U0ADMIN")).json()
        page = await browser.get(f"{bot.url}/connect/ponto?t=anything")

    text = str(answer)
    assert "PONTO_CLIENT_ID" in text and "PONTO_CLIENT_SECRET" in text
    assert page.status_code == 503 and "PONTO_CLIENT_ID" in page.text


async def connected(bot: BotUnderTest, browser: httpx.AsyncClient) -> None:
    page = await browser.get(await consent(browser, await connect_link(bot)))
    assert page.status_code == 200


async def test_disconnect_revokes_at_ponto_and_deletes_the_credentials(
    bot: BotUnderTest, browser: httpx.AsyncClient, ponto_sim: PontoSimulator
) -> None:
    await connected(bot, browser)
    refresh_token = ponto_sim.live_refresh_tokens()[0]

    answer = (await bot.slack.command("/cashbot", "disconnect ponto", user_id="U0ADMIN")).json()
    again = (await bot.slack.command("/cashbot", "disconnect ponto", user_id="U0ADMIN")).json()

    assert "revoked" in answer["text"] or "revoked" in str(answer["blocks"])
    assert ponto_sim.revoked_tokens == [refresh_token] and ponto_sim.live_refresh_tokens() == []
    [connection] = await connections(bot)
    assert (connection.state, connection.credentials) == ("disconnected", None)
    assert "was not connected" in again["text"]


async def test_disconnect_deletes_the_credentials_even_when_ponto_is_down(
    bot: BotUnderTest, browser: httpx.AsyncClient, ponto_sim: PontoSimulator
) -> None:
    await connected(bot, browser)
    ponto_sim.fail("revoke", Failure("error", status=503, times=10, retry_after=0))

    answer = (await bot.slack.command("/cashbot", "disconnect ponto", user_id="U0ADMIN")).json()

    assert "could not be reached" in str(answer["blocks"])
    [connection] = await connections(bot)
    assert (connection.state, connection.credentials) == ("disconnected", None)


async def first_sync(bot: BotUnderTest) -> SyncRun:
    """The sync the callback started in the background, once finished."""
    async with asyncio.timeout(10):
        while True:
            async with bot.runtime.core.database.read() as session:
                run = (await session.execute(select(SyncRun))).scalar_one_or_none()
            if run is not None and run.outcome != "running":
                return run
            await asyncio.sleep(0.02)


async def test_connecting_starts_the_first_sync_and_status_shows_the_banks(
    bot: BotUnderTest, browser: httpx.AsyncClient
) -> None:
    await connected(bot, browser)

    run = await first_sync(bot)
    status = str((await bot.slack.command("/cashbot", "status", user_id="U0ADMIN")).json()["blocks"])

    assert (run.trigger, run.outcome, run.items_written) == ("connect", "success", 600)
    assert (
        "5 bank accounts at BNP Paribas Fortis, Belfius Bank, ING België, KBC Bank; 600 transactions stored"
        in status
    )
    assert "Cashbot Demo BV" in status


async def test_reconnecting_revokes_the_grant_it_replaces(
    bot: BotUnderTest, browser: httpx.AsyncClient, ponto_sim: PontoSimulator
) -> None:
    await connected(bot, browser)
    first = ponto_sim.live_refresh_tokens()

    callback = await consent(browser, await connect_link(bot))
    page = await browser.get(callback)

    assert "Ponto is connected" in page.text
    assert ponto_sim.revoked_tokens == first, "the replaced grant does not stay alive at Ponto"
    assert len(ponto_sim.live_refresh_tokens()) == 1


async def test_a_foreign_callback_does_not_use_up_the_owners_state(
    bot: BotUnderTest, browser: httpx.AsyncClient
) -> None:
    """Issue 14, 6: someone opening the owner's callback URL first gets a refusal; the owner's own
    callback, a moment later from the browser that started it, still connects Ponto."""
    callback = await consent(browser, await connect_link(bot))
    async with httpx.AsyncClient() as other_browser:
        foreign = await other_browser.get(callback)

    own = await browser.get(callback)

    assert foreign.status_code == 400 and "another browser" in foreign.text
    assert own.status_code == 200, own.text
    assert "Ponto is connected" in own.text
    assert [c.state for c in await connections(bot)] == ["active"]

"""The Yuki connect form end to end: Slack command → one-time page → key → administration.

Everything goes through the bot's own HTTP server with signed Slack requests; the bot talks
to the Yuki simulator over loopback; the database is real.
"""

from __future__ import annotations

import datetime as dt
import json
import logging

import httpx
import pytest
from sqlalchemy import select, update

from bot.sandbox.slack import SlackSimulator
from bot.sandbox.yuki import NO_RIGHTS_KEY, SANDBOX_KEY, SINGLE_ADMIN_KEY, YukiSimulator
from bot.sandbox.yuki_browser import YukiConnectBrowser, connect_through_browser
from storage.models import (
    AuditEvent,
    CallBudget,
    Connection,
    ConnectLink,
    LedgerBalance,
    OpenItem,
    SyncRun,
)
from tests.harness import BotUnderTest
from tests.yuki_support import connect_link, connect_yuki, wait_for_syncs

pytestmark = pytest.mark.usefixtures("yuki_sim")


async def connections(bot: BotUnderTest) -> list[Connection]:
    async with bot.runtime.core.database.read() as session:
        return list((await session.execute(select(Connection))).scalars())


async def audit(bot: BotUnderTest) -> list[tuple[str, str, str]]:
    async with bot.runtime.core.database.read() as session:
        rows = (await session.execute(select(AuditEvent).order_by(AuditEvent.id))).scalars()
        return [(row.action, row.outcome, row.detail) for row in rows]


async def dump(bot: BotUnderTest) -> str:
    """Every text value in the tables a key could have leaked into."""
    async with bot.runtime.core.database.read() as session:
        rows = []
        for model in (Connection, ConnectLink, AuditEvent, SyncRun, CallBudget):
            table = model.__table__
            rows += [repr(tuple(r)) for r in (await session.execute(select(table))).all()]
    return "\n".join(rows)


def dm_texts(slack: SlackSimulator, user: str = "U0ADMIN") -> list[str]:
    return [
        str(c.params.get("text"))
        for c in slack.calls_to("chat.postMessage")
        if c.params.get("channel") == user
    ]


async def test_good_key_connects_the_chosen_administration(
    yuki_bot: BotUnderTest, yuki_sim: YukiSimulator, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    link = await connect_link(yuki_bot)
    assert link.startswith(f"{yuki_bot.url}/connect/yuki?t=")
    browser = YukiConnectBrowser()
    try:
        form = await browser.open(link)
        assert form.status == 200 and "Web services" in form.text and 'type="password"' in form.text
        choice = await browser.submit_key(SANDBOX_KEY)
        assert choice.status == 200
        assert [label for _, label in choice.choices] == [
            f"{a.name} ({a.country})" for a in yuki_sim.administrations.values()
        ]
        assert await connections(yuki_bot) == [], "nothing is saved before the choice"
        done = await browser.choose(yuki_sim.main.id)
    finally:
        await browser.aclose()

    assert done.status == 200 and "Yuki is connected" in done.text and yuki_sim.main.name in done.text
    [connection] = await connections(yuki_bot)
    assert (connection.state, connection.external_id) == ("active", yuki_sim.main.id)
    assert connection.scope_key == f"domain:{yuki_sim.domain_id}"
    assert any(yuki_sim.main.name in message for message in dm_texts(yuki_bot.sim)), "confirmed in Slack"
    assert ("connect.yuki", "ok") in [(action, outcome) for action, outcome, _ in await audit(yuki_bot)]
    # The key is encrypted at rest and never written anywhere in the clear.
    assert SANDBOX_KEY not in await dump(yuki_bot)
    assert SANDBOX_KEY not in caplog.text
    assert all(SANDBOX_KEY not in str(r.__dict__) for r in caplog.records)
    assert all(SANDBOX_KEY not in str(c.params) for c in yuki_bot.sim.calls)


async def test_first_sync_runs_after_connecting(yuki_bot: BotUnderTest, yuki_sim: YukiSimulator) -> None:
    await connect_yuki(yuki_bot)

    async with yuki_bot.runtime.core.database.read() as session:
        stored = (await session.execute(select(OpenItem).where(OpenItem.kind == "receivable"))).scalars()
        ids = {item.provider_item_id for item in stored}
    assert ids == {item.id for item in yuki_sim.receivables()}


@pytest.mark.parametrize(
    ("key", "says"),
    [
        ("0000-not-a-key", "did not accept this key"),
        (NO_RIGHTS_KEY, "no rights on the Accounting web service"),
        ("key with spaces", "does not look like a Yuki web-service access key"),
        ("", "Paste the web-service access key"),
    ],
    ids=["wrong-key", "no-accounting-rights", "malformed-key", "empty"],
)
async def test_refused_key_says_why_and_stores_nothing(
    yuki_bot: BotUnderTest, yuki_sim: YukiSimulator, key: str, says: str
) -> None:
    browser = YukiConnectBrowser()
    try:
        await browser.open(await connect_link(yuki_bot))
        refused = await browser.submit_key(key)
        assert refused.status == 422 and says in refused.text
        assert 'type="password"' in refused.text, "the form is shown again"
        assert await connections(yuki_bot) == []
        # The same link still works with the right key.
        await browser.submit_key(SANDBOX_KEY)
        done = await browser.choose()
    finally:
        await browser.aclose()
    assert "Yuki is connected" in done.text


async def test_yuki_down_says_so_and_stores_nothing(yuki_bot: BotUnderTest, yuki_sim: YukiSimulator) -> None:
    yuki_sim.fail("http_500", times=5)

    page = await connect_through_browser(await connect_link(yuki_bot), SANDBOX_KEY)

    assert page.status == 422 and "not answering properly" in page.text
    assert await connections(yuki_bot) == []
    assert ("connect.yuki", "failed") in [(action, outcome) for action, outcome, _ in await audit(yuki_bot)]


async def test_a_used_link_cannot_be_used_again(yuki_bot: BotUnderTest, yuki_sim: YukiSimulator) -> None:
    link = await connect_link(yuki_bot)
    browser = YukiConnectBrowser()
    try:
        await browser.open(link)
        await browser.submit_key(SANDBOX_KEY)
        replay_form = dict(browser.page.hidden) if browser.page else {}
        await browser.choose()
        again = await browser.open(link)
        assert again.status == 410 and "already been used" in again.text
        replay = await browser.client.post(
            link.split("?")[0], data={**replay_form, "administration": yuki_sim.main.id}
        )
    finally:
        await browser.aclose()

    assert replay.status_code == 410
    [connection] = await connections(yuki_bot)
    assert connection.version == 1, "the replay changed nothing"


async def test_an_expired_link_is_refused_without_calling_yuki(
    yuki_bot: BotUnderTest, yuki_sim: YukiSimulator
) -> None:
    link = await connect_link(yuki_bot)
    browser = YukiConnectBrowser()
    try:
        await browser.open(link)
        async with yuki_bot.runtime.core.database.write() as session:
            past = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)
            await session.execute(update(ConnectLink).values(expires_at=past))
        expired = await browser.submit_key(SANDBOX_KEY)
        reopened = await browser.open(link)
    finally:
        await browser.aclose()

    assert expired.status == 410 and "expired" in expired.text
    assert reopened.status == 410
    assert yuki_sim.calls == [] and await connections(yuki_bot) == []


async def test_unknown_link(yuki_bot: BotUnderTest) -> None:
    async with httpx.AsyncClient() as client:
        page = await client.get(f"{yuki_bot.url}/connect/yuki?t=made-up")

    assert page.status_code == 410 and "not valid" in page.text


@pytest.mark.parametrize("missing", ["field", "cookie", "both", "wrong"])
async def test_post_without_the_csrf_token_is_refused(
    yuki_bot: BotUnderTest, yuki_sim: YukiSimulator, missing: str
) -> None:
    browser = YukiConnectBrowser()
    try:
        form = await browser.open(await connect_link(yuki_bot))
        fields = {**form.hidden, "access_key": SANDBOX_KEY}
        if missing in ("field", "both"):
            del fields["csrf"]
        if missing == "wrong":
            fields["csrf"] = "forged-" + fields["csrf"]
        if missing in ("cookie", "both"):
            browser.client.cookies.clear()
        refused = await browser.client.post(f"{yuki_bot.url}/connect/yuki", data=fields)
    finally:
        await browser.aclose()

    assert refused.status_code == 403 and "could not be verified" in refused.text
    assert yuki_sim.calls == [], "a forged post never reaches Yuki"
    assert ("connect.yuki", "failed") in [(action, outcome) for action, outcome, _ in await audit(yuki_bot)]


async def test_the_page_is_not_cached_framed_or_scripted(yuki_bot: BotUnderTest) -> None:
    async with httpx.AsyncClient() as client:
        page = await client.get(await connect_link(yuki_bot))

    headers = page.headers
    assert headers["cache-control"] == "no-store"
    csp = headers["content-security-policy"]
    assert "default-src 'none'" in csp and "frame-ancestors 'none'" in csp and "form-action 'self'" in csp
    assert "script-src" not in csp and "<script" not in page.text
    nonce = csp.split("'nonce-")[1].split("'")[0]
    assert f'<style nonce="{nonce}">' in page.text
    assert headers["x-content-type-options"] == "nosniff" and headers["referrer-policy"] == "no-referrer"
    cookie = headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie and "path=/connect/yuki" in cookie


async def test_administration_names_are_escaped(yuki_bot: BotUnderTest, yuki_sim: YukiSimulator) -> None:
    yuki_sim.main.name = '<img src=x onerror="alert(1)"> Catering'
    browser = YukiConnectBrowser()
    try:
        await browser.open(await connect_link(yuki_bot))
        choice = await browser.submit_key(SANDBOX_KEY)
    finally:
        await browser.aclose()

    assert "<img" not in choice.text and "&lt;img" in choice.text


async def test_a_choice_outside_the_keys_administrations_is_refused(
    yuki_bot: BotUnderTest, yuki_sim: YukiSimulator
) -> None:
    small = next(a for a in yuki_sim.administrations.values() if a is not yuki_sim.main)
    browser = YukiConnectBrowser()
    try:
        await browser.open(await connect_link(yuki_bot))
        await browser.submit_key(SINGLE_ADMIN_KEY)
        refused = await browser.choose(small.id)
    finally:
        await browser.aclose()

    assert refused.status == 422 and "Choose one of the administrations" in refused.text
    assert await connections(yuki_bot) == []


@pytest.mark.parametrize(
    ("content_type", "body", "status"),
    [
        ("application/json", b"{}", 415),
        ("application/x-www-form-urlencoded", b"t=" + b"x" * 10_000, 413),
        ("application/x-www-form-urlencoded", b"t=%ff%fe", 400),
    ],
)
async def test_malformed_posts_get_a_plain_refusal(
    yuki_bot: BotUnderTest, content_type: str, body: bytes, status: int
) -> None:
    async with httpx.AsyncClient() as client:
        answer = await client.post(
            f"{yuki_bot.url}/connect/yuki", content=body, headers={"content-type": content_type}
        )

    assert answer.status_code == status
    assert await connections(yuki_bot) == []


async def test_bank_and_cash_accounts_can_be_chosen_on_the_form(
    yuki_bot: BotUnderTest, yuki_sim: YukiSimulator
) -> None:
    browser = YukiConnectBrowser()
    try:
        await browser.open(await connect_link(yuki_bot))
        choice = await browser.submit_key(SANDBOX_KEY)
        assert choice.texts["gl_prefixes"] == "55, 57", "the Belgian default is proposed"
        refused = await browser.choose(gl_prefixes="55; DROP TABLE")
        assert refused.status == 422 and "code prefixes" in refused.text
        assert refused.choices, "the choice is offered again"
        assert await connections(yuki_bot) == []
        done = await browser.choose(gl_prefixes="550, 570")
    finally:
        await browser.aclose()
    await wait_for_syncs(yuki_bot, 1)

    assert "Yuki is connected" in done.text
    async with yuki_bot.runtime.core.database.read() as session:
        codes = set((await session.execute(select(LedgerBalance.gl_code))).scalars())
    assert codes == {"550000", "550100", "570000"}
    status = json.dumps((await yuki_bot.slack.command("/cashbot", "status")).json(), ensure_ascii=False)
    assert "550…, 570…" in status


async def test_a_link_allows_only_a_few_key_attempts(yuki_bot: BotUnderTest, yuki_sim: YukiSimulator) -> None:
    browser = YukiConnectBrowser()
    try:
        await browser.open(await connect_link(yuki_bot))
        for attempt in range(5):
            assert "did not accept" in (await browser.submit_key(f"wrong-key-{attempt}")).text
        calls = len(yuki_sim.calls)
        refused = await browser.submit_key(SANDBOX_KEY)
    finally:
        await browser.aclose()

    assert refused.status == 422 and "Too many keys" in refused.text
    assert len(yuki_sim.calls) == calls, "the sixth attempt never reached Yuki"

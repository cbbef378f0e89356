"""Multi-workspace mode: OAuth install through the simulator, tokens encrypted, uninstall forgets."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from sqlalchemy import func, select, text
from sqlalchemy.engine import make_url

from bot.clock import SystemClock
from bot.sandbox.slack import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, DEFAULT_TEAM, SlackSimulator
from bot.sandbox.slack_requests import install_through_browser
from storage.database import Database
from storage.models import Base, SlackBot, SlackInstallation, Workspace
from tests.harness import BotUnderTest, bot_settings, running_bot


@pytest.fixture
async def multi_bot(database_url: str, slack_sim: SlackSimulator) -> AsyncIterator[BotUnderTest]:
    settings = bot_settings(
        database_url,
        slack_sim,
        slack_bot_token=None,
        slack_client_id=DEFAULT_CLIENT_ID,
        slack_client_secret=DEFAULT_CLIENT_SECRET,
    )
    async with running_bot(settings, slack_sim) as running:
        yield running


async def install(bot: BotUnderTest) -> httpx.Response:
    return await install_through_browser(bot.url)


async def dump_all_rows(database_url: str) -> str:
    """Every row of every table as text, as an attacker with the database would see it."""
    database = Database(database_url, clock=SystemClock())
    chunks = []
    async with database.read() as session:
        for table in Base.metadata.sorted_tables:
            for row in (await session.execute(select(table))).all():
                chunks.append(repr(tuple(row)))
    await database.dispose()
    return "\n".join(chunks)


def raw_sqlite_bytes(database_url: str) -> bytes:
    path = Path(make_url(database_url).database or "")
    return b"".join(p.read_bytes() for p in (path, Path(f"{path}-wal")) if p.exists())


async def test_install_stores_workspace_with_encrypted_token(multi_bot: BotUnderTest) -> None:
    finished = await install(multi_bot)

    assert finished.status_code == 200
    tokens = [call.params for call in multi_bot.sim.calls_to("oauth.v2.access")]
    assert len(tokens) == 1
    issued = [t for t in multi_bot.sim.tokens if t.startswith("xoxb-sim-")]
    bot_token = issued[-1]
    async with multi_bot.runtime.core.database.read() as session:
        workspace = (await session.execute(select(Workspace))).scalar_one()
        stored = (await session.execute(select(SlackInstallation))).scalar_one()
    assert workspace.team_id == DEFAULT_TEAM
    assert workspace.installed_by_user_id == "U0ADMIN"
    assert stored.bot_token and stored.bot_token.startswith("f1:")
    assert bot_token not in await dump_all_rows(multi_bot.settings.database_url)
    if multi_bot.runtime.core.database.is_sqlite:
        assert bot_token.encode() not in raw_sqlite_bytes(multi_bot.settings.database_url)


async def test_installed_workspace_can_use_commands(multi_bot: BotUnderTest) -> None:
    await install(multi_bot)

    response = await multi_bot.slack.command("/cashbot", "help")

    assert response.status_code == 200
    assert "/cashbot help" in response.text


async def test_reused_or_forged_state_is_refused(multi_bot: BotUnderTest) -> None:
    async with httpx.AsyncClient() as browser:
        start = await browser.get(f"{multi_bot.url}/slack/install")
        cookie = start.headers["set-cookie"].split(";")[0]
        approve = await browser.get(start.headers["location"])
        callback = approve.headers["location"]
        first = await browser.get(callback, headers={"cookie": cookie})
        replay = await browser.get(callback, headers={"cookie": cookie})
        state = parse_qs(urlsplit(callback).query)["state"][0]
        forged = await browser.get(
            f"{multi_bot.url}/slack/oauth_redirect?code=x&state=forged",
            headers={"cookie": f"slack-app-oauth-state={state}"},
        )

    assert first.status_code == 200
    assert replay.status_code >= 400
    assert forged.status_code >= 400
    assert len(multi_bot.sim.calls_to("oauth.v2.access")) == 1


async def test_app_uninstalled_deletes_tokens(multi_bot: BotUnderTest) -> None:
    await install(multi_bot)

    response = await multi_bot.slack.event({"type": "app_uninstalled"})

    assert response.status_code == 200
    async with multi_bot.runtime.core.database.read() as session:
        installs = (await session.execute(select(func.count()).select_from(SlackInstallation))).scalar()
        bots = (await session.execute(select(func.count()).select_from(SlackBot))).scalar()
        workspace = (await session.execute(select(Workspace))).scalar_one()
    assert installs == 0 and bots == 0
    assert workspace.uninstalled_at is not None
    after = await multi_bot.slack.command("/cashbot", "help")
    assert "/cashbot help" not in after.text


async def test_tokens_revoked_for_bot_deletes_tokens_and_is_idempotent(
    multi_bot: BotUnderTest,
) -> None:
    await install(multi_bot)
    event = {"type": "tokens_revoked", "tokens": {"oauth": ["U0ADMIN"], "bot": ["U0BOT"]}}

    first = await multi_bot.slack.event(event, event_id="EvREVOKE1")
    retried = await multi_bot.slack.event(event, event_id="EvREVOKE1", retry_num=1)
    again = await multi_bot.slack.event({"type": "app_uninstalled"})

    assert (first.status_code, retried.status_code, again.status_code) == (200, 200, 200)
    async with multi_bot.runtime.core.database.read() as session:
        count = (await session.execute(text("SELECT COUNT(*) FROM slack_installation"))).scalar()
    assert count == 0


async def test_expired_state_is_refused(multi_bot: BotUnderTest) -> None:
    import datetime as dt

    from sqlalchemy import update

    from storage.models import OAuthState

    async with httpx.AsyncClient() as browser:
        start = await browser.get(f"{multi_bot.url}/slack/install")
        cookie = start.headers["set-cookie"].split(";")[0]
        approve = await browser.get(start.headers["location"])
        async with multi_bot.runtime.core.database.write() as session:
            await session.execute(
                update(OAuthState).values(expires_at=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1))
            )
        late = await browser.get(approve.headers["location"], headers={"cookie": cookie})

    assert late.status_code >= 400
    assert multi_bot.sim.calls_to("oauth.v2.access") == []


async def test_an_uninstall_that_failed_is_done_when_slack_retries(multi_bot: BotUnderTest) -> None:
    """A failed listener answers 5xx; Slack's retry of the same event_id must run it, not skip it."""
    await install(multi_bot)
    database = multi_bot.runtime.core.database
    await _break_uninstalls(database)

    first = await multi_bot.slack.event({"type": "app_uninstalled"}, event_id="EvUNINSTALL1")
    await _repair_uninstalls(database)
    retried = await multi_bot.slack.event({"type": "app_uninstalled"}, event_id="EvUNINSTALL1", retry_num=1)
    again = await multi_bot.slack.event({"type": "app_uninstalled"}, event_id="EvUNINSTALL1", retry_num=2)

    assert first.status_code >= 500
    assert (retried.status_code, again.status_code) == (200, 200)
    async with database.read() as session:
        tokens = (await session.execute(select(func.count()).select_from(SlackInstallation))).scalar()
        workspace = (await session.execute(select(Workspace))).scalar_one()
    assert tokens == 0 and workspace.uninstalled_at is not None


async def _break_uninstalls(database: Database) -> None:
    """A fault injected in the database: marking a workspace uninstalled fails."""
    statements = (
        [
            "CREATE TRIGGER fail_uninstall BEFORE UPDATE OF uninstalled_at ON workspace "
            "WHEN NEW.uninstalled_at IS NOT NULL BEGIN SELECT RAISE(ABORT, 'injected failure'); END"
        ]
        if database.is_sqlite
        else [
            "CREATE FUNCTION fail_uninstall() RETURNS trigger LANGUAGE plpgsql AS "
            "$$ BEGIN RAISE EXCEPTION 'injected failure'; END $$",
            "CREATE TRIGGER fail_uninstall BEFORE UPDATE ON workspace FOR EACH ROW "
            "WHEN (NEW.uninstalled_at IS NOT NULL) EXECUTE FUNCTION fail_uninstall()",
        ]
    )
    async with database.engine.begin() as connection:
        for statement in statements:
            await connection.execute(text(statement))


async def _repair_uninstalls(database: Database) -> None:
    async with database.engine.begin() as connection:
        if database.is_sqlite:
            await connection.execute(text("DROP TRIGGER fail_uninstall"))
        else:
            await connection.execute(text("DROP TRIGGER fail_uninstall ON workspace"))
            await connection.execute(text("DROP FUNCTION fail_uninstall()"))

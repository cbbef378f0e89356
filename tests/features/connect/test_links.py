"""One-time connect links: hashed, short-lived, bound to a workspace and user, single use."""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest
from sqlalchemy import select

from bot.clock import ManualClock
from bot.domain import Provider
from bot.errors import LinkInvalid
from bot.features.connect.links import ConnectLinks
from storage.crypto import SecretBox, generate_key
from storage.database import Database
from storage.models import ConnectLink
from storage.workspaces import ensure_workspace

START = dt.datetime(2026, 11, 24, 9, 0, tzinfo=dt.UTC)


@pytest.fixture
async def setup(database_url: str):  # type: ignore[no-untyped-def]
    clock = ManualClock(START)  # the links, the housekeeping and the database share it
    database = Database(database_url, clock=clock)
    async with database.write() as session:
        workspace = await ensure_workspace(session, "T1", timezone="Europe/Brussels")
    yield database, ConnectLinks(database, SecretBox([generate_key()]), clock=clock), workspace.id, clock
    await database.dispose()


async def test_link_is_stored_hashed_and_works_once(setup) -> None:  # type: ignore[no-untyped-def]
    database, links, workspace_id, _ = setup
    token = await links.issue(workspace_id, "U1", Provider.PONTO)

    grant = await links.peek(token, Provider.PONTO)
    used = await links.consume(token, Provider.PONTO)

    assert (grant.workspace_id, grant.team_id, grant.slack_user_id) == (workspace_id, "T1", "U1")
    assert used.link_id == grant.link_id
    async with database.read() as session:
        stored = (await session.execute(select(ConnectLink.token_hash))).scalars().all()
    assert token not in stored
    with pytest.raises(LinkInvalid, match="already been used"):
        await links.consume(token, Provider.PONTO)


async def test_expired_link_is_refused(setup) -> None:  # type: ignore[no-untyped-def]
    _, links, workspace_id, clock = setup
    token = await links.issue(workspace_id, "U1", Provider.YUKI)
    clock.advance(dt.timedelta(minutes=15, seconds=1))

    with pytest.raises(LinkInvalid, match="expired"):
        await links.peek(token, Provider.YUKI)


async def test_newer_link_kills_older_and_links_are_per_provider(setup) -> None:  # type: ignore[no-untyped-def]
    _, links, workspace_id, _ = setup
    first = await links.issue(workspace_id, "U1", Provider.PONTO)
    second = await links.issue(workspace_id, "U2", Provider.PONTO)

    with pytest.raises(LinkInvalid, match="newer link"):
        await links.peek(first, Provider.PONTO)
    with pytest.raises(LinkInvalid, match="not valid"):
        await links.peek(second, Provider.YUKI)
    with pytest.raises(LinkInvalid, match="not valid"):
        await links.peek("forged-token", Provider.PONTO)
    assert (await links.peek(second, Provider.PONTO)).slack_user_id == "U2"


async def test_concurrent_use_lets_exactly_one_win(setup) -> None:  # type: ignore[no-untyped-def]
    _, links, workspace_id, _ = setup
    token = await links.issue(workspace_id, "U1", Provider.PONTO)

    outcomes = await asyncio.gather(
        *(links.consume(token, Provider.PONTO) for _ in range(5)), return_exceptions=True
    )

    assert sum(not isinstance(o, Exception) for o in outcomes) == 1
    assert all(isinstance(o, LinkInvalid) for o in outcomes if isinstance(o, Exception))


async def test_stash_keeps_a_secret_encrypted_and_csrf_checks(setup) -> None:  # type: ignore[no-untyped-def]
    database, links, workspace_id, _ = setup
    token = await links.issue(workspace_id, "U1", Provider.YUKI)
    grant = await links.peek(token, Provider.YUKI)

    await links.stash(grant.link_id, "the-yuki-access-key")
    csrf = await links.issue_csrf(grant.link_id)

    async with database.read() as session:
        row = (await session.execute(select(ConnectLink))).scalar_one()
    assert "the-yuki-access-key" not in (row.pending_secret or "")
    assert await links.unstash(grant.link_id) == "the-yuki-access-key"
    assert await links.check_csrf(grant.link_id, csrf)
    assert not await links.check_csrf(grant.link_id, "guess")
    assert not await links.check_csrf(grant.link_id, None)
    await links.consume(token, Provider.YUKI)
    assert await links.unstash(grant.link_id) is None, "using the link drops the stashed secret"


async def test_housekeeping_removes_expired_links_and_states_with_their_secrets(setup) -> None:  # type: ignore[no-untyped-def]
    from bot.features.housekeeping import Housekeeping
    from storage.models import OAuthState
    from storage.slack_stores import DatabaseOAuthStateStore

    database, links, workspace_id, clock = setup
    old = await links.issue(workspace_id, "U1", Provider.YUKI)
    await links.stash((await links.peek(old, Provider.YUKI)).link_id, "a-yuki-key")
    await DatabaseOAuthStateStore(database, expiration_seconds=-10).async_issue()
    clock.advance(dt.timedelta(days=2))
    fresh = await links.issue(workspace_id, "U2", Provider.PONTO)

    removed = await Housekeeping(database, clock=clock).prune()

    async with database.read() as session:
        remaining = (await session.execute(select(ConnectLink.slack_user_id))).scalars().all()
        states = (await session.execute(select(OAuthState))).scalars().all()
    assert removed >= 2
    assert remaining == ["U2"] and states == []
    assert (await links.peek(fresh, Provider.PONTO)).slack_user_id == "U2"

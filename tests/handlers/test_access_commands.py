"""/cashbot access: grant, revoke, list, public channels; who may change them; every change audited."""

from __future__ import annotations

import json

from sqlalchemy import select, update

from bot.domain import Provider
from bot.sandbox.blocks_text import blocks_to_text
from storage.models import AuditEvent, Workspace
from tests.features import cash_data as data
from tests.harness import BotUnderTest


async def actions(bot: BotUnderTest) -> list[tuple[str, str, str, dict]]:  # type: ignore[type-arg]
    async with bot.runtime.core.database.read() as session:
        rows = (await session.execute(select(AuditEvent).order_by(AuditEvent.id))).scalars()
        return [(r.actor, r.action, r.outcome, json.loads(r.detail)) for r in rows]


async def cashbot(bot: BotUnderTest, text: str, user: str = "U0ADMIN", channel: str = "C0FINANCE") -> dict:  # type: ignore[type-arg]
    return (await bot.slack.command("/cashbot", text, user_id=user, channel_id=channel)).json()  # type: ignore[no-any-return]


async def test_grant_then_revoke_takes_effect_at_once(bot: BotUnderTest) -> None:
    workspace_id = await data.workspace(bot.runtime.core.database, installed_by="U0ADMIN")
    await data.connect(bot.runtime.core.database, workspace_id, Provider.PONTO)

    before = await bot.slack.command("/cash", user_id="U0MEMBER")
    granted = await cashbot(bot, "access grant <@U0MEMBER|maarten.member>")
    during = await bot.slack.command("/cash", user_id="U0MEMBER")
    revoked = await cashbot(bot, "access revoke <@U0MEMBER>")
    after = await bot.slack.command("/cash", user_id="U0MEMBER")

    assert "don't have access" in before.json()["text"]
    assert "<@U0MEMBER> can now see" in granted["text"]
    assert during.json()["text"].startswith("Cash position")
    assert "can no longer see" in revoked["text"]
    assert "don't have access" in after.json()["text"]
    log = [(a, act, out) for a, act, out, _ in await actions(bot) if act.startswith("access.")]
    assert log == [("U0ADMIN", "access.grant", "ok"), ("U0ADMIN", "access.revoke", "ok")]


async def test_only_admins_and_managers_change_access(bot: BotUnderTest) -> None:
    workspace_id = await data.workspace(bot.runtime.core.database, installed_by="U0ADMIN")
    await bot.runtime.services.access.grant(workspace_id, "U0MEMBER", "U0ADMIN")

    grant = await cashbot(bot, "access grant <@U0OTHER>", user="U0MEMBER")
    public = await cashbot(bot, "access public add here", user="U0MEMBER")
    listing = await cashbot(bot, "access list", user="U0MEMBER")

    assert "Only workspace admins and cashbot's managers" in grant["text"]
    assert "<@U0ADMIN>" in json.dumps(grant["blocks"])
    assert "Only workspace admins" in public["text"]
    assert "<@U0MEMBER>" in json.dumps(listing["blocks"]), "a viewer may see who else can"
    assert [g.user_id for g in await bot.runtime.services.access.grants(workspace_id)] == ["U0MEMBER"]
    denied = [(act, out) for _, act, out, _ in await actions(bot) if out == "denied"]
    assert denied == [("access.grant", "denied"), ("access.public", "denied")]


async def test_list_names_managers_grants_and_public_channels(bot: BotUnderTest) -> None:
    workspace_id = await data.workspace(bot.runtime.core.database, installed_by="U0ADMIN")
    await data.connect(bot.runtime.core.database, workspace_id, Provider.YUKI, connected_by="U0BOOKS")
    await cashbot(bot, "access grant <@U0MEMBER>")
    await cashbot(bot, "access public add <#C0BOARD|board>")
    await cashbot(bot, "access public add here", channel="C0FINANCE")
    await cashbot(bot, "access public remove here", channel="C0FINANCE")

    listing = await cashbot(bot, "access list")

    raw = json.dumps(listing["blocks"])
    assert "<@U0ADMIN>, <@U0BOOKS>" in raw
    assert "<@U0MEMBER>, granted by <@U0ADMIN>" in raw
    assert "<#C0BOARD>" in raw and "C0FINANCE" not in raw
    changes = [(act, detail.get("channel")) for _, act, _, detail in await actions(bot) if "public" in act]
    assert changes == [
        ("access.public_add", "C0BOARD"),
        ("access.public_add", "C0FINANCE"),
        ("access.public_remove", "C0FINANCE"),
    ]


async def test_bad_targets_get_the_usage_and_change_nothing(bot: BotUnderTest) -> None:
    workspace_id = await data.workspace(bot.runtime.core.database, installed_by="U0ADMIN")

    answers = [
        await cashbot(bot, text)
        for text in (
            "access grant @maarten",
            "access grant <!channel>",
            "access grant <@U0A> <@U0B>",
            "access grant U0MEMBER'; DROP TABLE access_grant; --",
            "access public add #general",
            "access public toggle here",
            "access destroy",
        )
    ]

    assert all("Usage: `/cashbot access list`" in a["text"] for a in answers)
    assert all("<!channel>" not in json.dumps(a) for a in answers)
    assert await bot.runtime.services.access.grants(workspace_id) == []
    assert blocks_to_text(await cashbot(bot, "access")).startswith("Who can see financial data")


async def test_a_digest_channel_does_not_widen_who_may_query(bot: BotUnderTest) -> None:
    workspace_id = await data.workspace(bot.runtime.core.database, installed_by="U0ADMIN")
    await data.connect(bot.runtime.core.database, workspace_id, Provider.PONTO)
    async with bot.runtime.core.database.write() as session:
        await session.execute(
            update(Workspace)
            .where(Workspace.id == workspace_id)
            .values(digest_channel_id="C0DIGEST", digest_enabled=True)
        )

    member = await bot.slack.command("/cash", user_id="U0MEMBER", channel_id="C0DIGEST")
    public = await bot.slack.command("/cash", "public", user_id="U0ADMIN", channel_id="C0DIGEST")

    assert "don't have access" in member.json()["text"]
    assert public.json()["response_type"] == "ephemeral", "public answers need an explicit allow"

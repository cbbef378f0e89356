"""/cash through the bot's HTTP server: figures, masking, locale, access, public answers, no connection."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal

from babel.numbers import format_currency
from sqlalchemy import select

from bot.domain import Provider
from bot.sandbox.blocks_text import blocks_to_text
from bot.sandbox.slack import DEFAULT_TEAM, SimUser, SlackSimulator
from storage.models import AuditEvent
from tests.features import cash_data as data
from tests.features.cash_data import Account
from tests.handlers.test_connect_commands import RecordingPlugin, button_url
from tests.harness import BotUnderTest, bot_settings, running_bot

ACCOUNTS = [
    Account("KBC", "BE68 5390 0754 7034", "EUR", Decimal("12345.67")),
    Account("Belfius", "BE71096123456769", "EUR", Decimal("8000.00")),
    Account("ING", "BE45 3631 2345 6789", "USD", Decimal("1000.00")),
]


def moves() -> dict[str, list[tuple[dt.date, Decimal]]]:
    today = data.today()
    return {
        "KBC": [
            (today, Decimal("100.00")),
            (today - dt.timedelta(days=3), Decimal("1000.00")),
            (today - dt.timedelta(days=6), Decimal("-250.50")),
            (today - dt.timedelta(days=7), Decimal("999.00")),  # eight days ago counting today: outside
            (today - dt.timedelta(days=40), Decimal("5000.00")),
        ],
        "Belfius": [(today - dt.timedelta(days=1), Decimal("-80.00"))],
        "ING": [],
    }


async def seed_connected(
    bot: BotUnderTest, *, with_yuki: bool = True, accounts: list[data.Account] | None = None
) -> int:
    database = bot.runtime.core.database
    workspace_id = await data.workspace(database)
    ponto = await data.connect(database, workspace_id, Provider.PONTO)
    for account in ACCOUNTS if accounts is None else accounts:
        account_id = await data.add_account(database, workspace_id, ponto, account)
        await data.add_transactions(database, account_id, account.currency, moves()[account.bank])
    if with_yuki:
        yuki = await data.connect(database, workspace_id, Provider.YUKI)
        await data.add_ledger(database, workspace_id, yuki, "550000", Decimal("10000.00"))
        await data.add_ledger(database, workspace_id, yuki, "551000", Decimal("6135.67"))
    return workspace_id


def week_change(bank: str) -> Decimal:
    today = data.today()
    return sum((amount for day, amount in moves()[bank] if (today - day).days < 7), Decimal(0))


def eur(amount: Decimal, locale: str = "nl_BE") -> str:
    return str(format_currency(amount, "EUR", locale=locale))


async def audit_rows(bot: BotUnderTest) -> list[AuditEvent]:
    async with bot.runtime.core.database.read() as session:
        return list((await session.execute(select(AuditEvent).order_by(AuditEvent.id))).scalars())


async def test_figures_match_the_synced_data(bot: BotUnderTest) -> None:
    await seed_connected(bot)

    response = await bot.slack.command("/cash", user_id="U0ADMIN")

    payload = response.json()
    text = blocks_to_text(payload)
    eur_total = sum((a.balance for a in ACCOUNTS if a.currency == "EUR"), Decimal(0))
    eur_change = week_change("KBC") + week_change("Belfius")
    ledger = Decimal("16135.67")
    assert payload["response_type"] == "ephemeral"
    assert eur(eur_total) in text and "2 accounts" in text
    assert eur(eur_change) in text and "+" + eur(eur_change) in text
    assert eur(ledger) in text
    # The USD account's ledger is inside Yuki's EUR figure, converted: no gap can be claimed.
    assert "not yet booked" not in text and "no gap shown" in text
    assert str(format_currency(Decimal(1000), "USD", locale="nl_BE")) in text
    assert "BE68 •••• 7034" in text and "BE71 •••• 6769" in text
    raw = json.dumps(payload)
    assert "5390" not in raw and "0961234" not in raw, "a full IBAN left the bot"
    assert "Ponto: synced just now" in text and "Yuki: synced just now" in text
    assert payload["text"].startswith("Cash position: " + eur(eur_total))
    assert any(b.get("type") == "actions" for b in payload["blocks"]), "the Sync now button"


async def test_amounts_follow_the_readers_locale(bot: BotUnderTest, slack_sim: SlackSimulator) -> None:
    slack_sim.teams[DEFAULT_TEAM].users["U0ENGLISH"] = SimUser("U0ENGLISH", "erin", locale="en-US")
    await seed_connected(bot)
    workspace_id = await bot.runtime.services.workspaces.workspace_id(DEFAULT_TEAM)
    for user in ("U0MEMBER", "U0ENGLISH"):
        await bot.runtime.services.access.grant(workspace_id, user, "U0ADMIN")

    dutch = blocks_to_text((await bot.slack.command("/cash", user_id="U0ADMIN")).json())
    french = blocks_to_text((await bot.slack.command("/cash", user_id="U0MEMBER")).json())
    english = blocks_to_text((await bot.slack.command("/cash", user_id="U0ENGLISH")).json())

    assert "€\xa020.345,67" in dutch
    assert "20\u202f345,67\xa0€" in french
    assert "€20,345.67" in english


async def test_member_without_access_is_refused_politely_and_audited(bot: BotUnderTest) -> None:
    await seed_connected(bot)

    response = await bot.slack.command("/cash", user_id="U0MEMBER", channel_id="C0RANDOM")

    payload = response.json()
    assert payload["response_type"] == "ephemeral"
    assert "don't have access" in payload["text"]
    assert "<@U0ADMIN>" in json.dumps(payload["blocks"]), "names who can grant access"
    assert "€" not in json.dumps(payload)
    denied = [r for r in await audit_rows(bot) if r.outcome == "denied"]
    assert [(r.actor, r.action, r.channel_id) for r in denied] == [("U0MEMBER", "view.cash", "C0RANDOM")]


async def test_every_view_is_audited_with_what_was_shown(bot: BotUnderTest) -> None:
    await seed_connected(bot)

    await bot.slack.command("/cash", user_id="U0ADMIN")

    (view,) = [r for r in await audit_rows(bot) if r.action == "view.cash"]
    detail = json.loads(view.detail)
    assert (view.actor, view.team_id, view.channel_id, view.outcome) == (
        "U0ADMIN",
        DEFAULT_TEAM,
        "C0FINANCE",
        "ok",
    )
    assert detail == {"command": "/cash", "public": False, "accounts": 3, "currencies": ["EUR", "USD"]}
    assert (await bot.runtime.services.audit.verify()).ok


async def test_public_only_in_allowed_channels(bot: BotUnderTest) -> None:
    workspace_id = await seed_connected(bot)
    await bot.runtime.services.access.set_public(workspace_id, "C0BOARD", True)

    allowed = (await bot.slack.command("/cash", "public", channel_id="C0BOARD")).json()
    elsewhere = (await bot.slack.command("/cash", "public", channel_id="C0RANDOM")).json()

    assert allowed["response_type"] == "in_channel"
    assert elsewhere["response_type"] == "ephemeral"
    assert "public answers are not enabled in this channel" in blocks_to_text(elsewhere)


async def test_no_connection_gets_connect_buttons_not_an_empty_table(bot: BotUnderTest) -> None:
    workspace_id = await data.workspace(bot.runtime.core.database, installed_by="U0ADMIN")
    await bot.runtime.services.access.grant(workspace_id, "U0MEMBER", "U0ADMIN")

    admin = (await bot.slack.command("/cash", user_id="U0ADMIN")).json()
    member = (await bot.slack.command("/cash", user_id="U0MEMBER")).json()

    buttons = [e["action_id"] for b in admin["blocks"] if b["type"] == "actions" for e in b["elements"]]
    assert buttons == ["cashbot_connect_ponto", "cashbot_connect_yuki"]
    assert "not connected yet" in admin["text"]
    assert not any(b["type"] == "actions" for b in member["blocks"])
    assert "<@U0ADMIN>" in json.dumps(member["blocks"]) and "/cashbot connect ponto" in blocks_to_text(member)


async def test_connect_button_hands_a_manager_a_one_time_link(
    database_url: str, slack_sim: SlackSimulator
) -> None:
    plugin = RecordingPlugin()
    async with running_bot(
        bot_settings(database_url, slack_sim),
        slack_sim,
        customize=lambda rt: rt.providers.plugins.append(plugin),
    ) as bot:
        await data.workspace(bot.runtime.core.database, installed_by="U0ADMIN")
        clicked = await bot.slack.block_action("cashbot_connect_ponto", "ponto", user_id="U0ADMIN")
        (posted,) = await slack_sim.wait_for_response(1)

    assert clicked.status_code == 200
    assert posted.params["response_type"] == "ephemeral" and posted.params["replace_original"] is False
    assert button_url(posted.params).startswith(f"{bot.url}/connect/ponto?t=")


async def test_bad_arguments_get_the_usage(bot: BotUnderTest) -> None:
    await seed_connected(bot)

    payload = (await bot.slack.command("/cash", "<!channel> *now*")).json()

    assert "Usage: `/cash`" in payload["text"]
    assert "<!channel>" not in json.dumps(payload)


async def test_bank_vs_books_gap_when_every_account_is_in_the_books_currency(bot: BotUnderTest) -> None:
    await seed_connected(bot, accounts=[a for a in ACCOUNTS if a.currency == "EUR"])

    text = blocks_to_text((await bot.slack.command("/cash", user_id="U0ADMIN")).json())

    eur_total = sum((a.balance for a in ACCOUNTS if a.currency == "EUR"), Decimal(0))
    assert eur_total - Decimal("16135.67") == Decimal("4210.00")
    assert f"{eur(Decimal('4210.00'))} not yet booked" in text


async def test_a_disconnected_yuki_no_longer_drives_the_comparison(bot: BotUnderTest) -> None:
    workspace_id = await seed_connected(bot, accounts=[a for a in ACCOUNTS if a.currency == "EUR"])
    await bot.runtime.services.connections.disconnect(workspace_id, Provider.YUKI)
    await bot.runtime.reports.cache.invalidate(str(workspace_id))

    text = blocks_to_text((await bot.slack.command("/cash", user_id="U0ADMIN")).json())

    assert "Yuki bank ledger" not in text and "not yet booked" not in text

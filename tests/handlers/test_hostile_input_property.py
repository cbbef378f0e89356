"""Properties (issue 14): any slash text, any mangled interaction payload, correctly signed and sent
through the bot's HTTP server, gets an answer below 500, logs no error, and loses no stored data."""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs, urlencode

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from bot.domain import Provider
from storage.models import BankAccount, Connection, OpenItem
from tests.features import cash_data as data
from tests.features.cash_data import Account, Item
from tests.harness import BotUnderTest

FORM = "application/x-www-form-urlencoded"
EXAMPLES = settings(
    max_examples=int(os.environ.get("CASHBOT_PROPERTY_EXAMPLES", "50")),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
# Words the commands know, so texts reach deep paths; destructive verbs (disconnect, forget,
# revoke) are left out: they delete on purpose.
WORDS = st.sampled_from(
    [
        "help",
        "status",
        "connect",
        "ponto",
        "yuki",
        "digest",
        "preview",
        "here",
        "off",
        "time",
        "mon",
        "08:00",
        "timezone",
        "Europe/Brussels",
        "alerts",
        "access",
        "list",
        "grant",
        "<@U0OTHER>",
        "threshold",
        "low",
        "large",
        "EUR",
        "1000",
        "-5",
        "forecast",
        "4",
        "public",
        "more",
        "30",
        "sync",
        "confirm",
        "0",
        "99999999999999999999",
        "½",
        "²",
        "'",
        '"',
        "`",
        "*",
        "_",
        "~",
        "<!channel>",
        "<#C1|x>",
        "\N{MATHEMATICAL BOLD DIGIT NINE}",
    ]
)
TEXTS = st.one_of(st.text(max_size=200), st.lists(WORDS, max_size=6).map(" ".join))
ACTION_IDS = st.sampled_from(
    [
        "overdue_more",
        "cash_sync_now",
        "cashbot_connect_ponto",
        "cashbot_connect_yuki",
        "home_connect",
        "home_sync_now",
        "home_digest_preview",
        "alert_reconnect",
        "alert_retry",
        "nobody_listens_to_this",
    ]
)
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)
FIELDS = st.sampled_from(
    ["type", "team", "user", "channel", "container", "actions", "view", "trigger_id", "message", "state"]
)
TYPES = st.sampled_from(
    ["block_actions", "view_submission", "view_closed", "shortcut", "message_action", "block_suggestion"]
)


async def seeded(bot: BotUnderTest) -> dict[str, int]:
    """A workspace with Ponto and Yuki data, once per test (the bot is shared by its examples)."""
    database = bot.runtime.core.database
    if await stored(bot) != {"connections": 0, "accounts": 0, "items": 0}:
        return await stored(bot)
    workspace_id = await data.workspace(database, installed_by="U0ADMIN")
    ponto = await data.connect(database, workspace_id, Provider.PONTO)
    yuki = await data.connect(database, workspace_id, Provider.YUKI)
    await data.add_account(
        database, workspace_id, ponto, Account("KBC", "BE68539007547034", "EUR", Decimal(10))
    )
    due = dt.date.today() - dt.timedelta(days=40)
    items = [Item(f"Klant {n}", f"F-{n}", Decimal(100 + n), due, code=f"K{n}") for n in range(12)]
    await data.add_items(database, workspace_id, yuki, items)
    return await stored(bot)


async def stored(bot: BotUnderTest) -> dict[str, int]:
    async with bot.runtime.core.database.read() as session:
        return {
            "connections": await session.scalar(select(func.count()).select_from(Connection)) or 0,
            "accounts": await session.scalar(select(func.count()).select_from(BankAccount)) or 0,
            "items": await session.scalar(
                select(func.count()).select_from(OpenItem).where(OpenItem.status == "open")
            )
            or 0,
        }


def no_errors(caplog: pytest.LogCaptureFixture) -> None:
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert not errors, [
        (r.getMessage(), getattr(r, "error", None), getattr(r, "detail", None)) for r in errors
    ]


@EXAMPLES
@given(command=st.sampled_from(["/cash", "/overdue", "/cashbot"]), text=TEXTS, admin=st.booleans())
async def test_any_slash_text_is_answered_without_error_or_loss(
    bot: BotUnderTest, caplog: pytest.LogCaptureFixture, command: str, text: str, admin: bool
) -> None:
    before = await seeded(bot)
    caplog.set_level(logging.WARNING)
    caplog.clear()  # the bot is shared by the examples: each one answers for its own lines

    response = await bot.slack.command(command, text, user_id="U0ADMIN" if admin else "U0MEMBER")

    assert response.status_code == 200
    assert response.json()  # an answer the person reads, never an empty 200
    no_errors(caplog)
    assert await stored(bot) == before


def mangled(
    bot: BotUnderTest, action_id: str, value: str, changes: list[tuple[str, Any]], drop: list[str]
) -> str:
    payload = json.loads(parse_qs(bot.slack.block_action_body(action_id, value))["payload"][0])
    for field, new in changes:
        payload[field] = new
    for field in drop:
        payload.pop(field, None)
    return urlencode({"payload": json.dumps(payload)})


@EXAMPLES
@given(
    action_id=ACTION_IDS,
    value=st.one_of(st.text(max_size=40), st.integers(-5, 10**12).map(str)),
    changes=st.lists(st.tuples(FIELDS, JSON | TYPES), max_size=2),
    drop=st.lists(
        st.sampled_from(["response_url", "actions", "team", "user", "container", "channel"]), max_size=2
    ),
)
async def test_any_interaction_payload_is_answered_without_error_or_loss(
    bot: BotUnderTest,
    caplog: pytest.LogCaptureFixture,
    action_id: str,
    value: str,
    changes: list[tuple[str, Any]],
    drop: list[str],
) -> None:
    before = await seeded(bot)
    caplog.set_level(logging.WARNING)
    caplog.clear()  # the bot is shared by the examples: each one answers for its own lines

    response = await bot.slack.post_raw(mangled(bot, action_id, value, changes, drop), FORM)

    assert response.status_code < 500, response.text
    no_errors(caplog)
    assert await stored(bot) == before

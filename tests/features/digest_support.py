"""A bot on a moved clock, a workspace whose digest goes to #finance, and what Slack got."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from decimal import Decimal
from typing import Any

from sqlalchemy import select

from bot.app.digest import DigestParts
from bot.clock import ManualClock
from bot.delivery.sender import MARKER_EVENT
from bot.domain import Provider
from bot.sandbox.blocks_text import blocks_to_text
from bot.sandbox.slack import SlackSimulator
from storage.models import DigestRun, OutboxMessage
from tests.features import cash_data as data
from tests.features.cash_data import Account, Item
from tests.harness import BotUnderTest, bot_settings, running_bot

UTC = dt.UTC
CHANNEL = "C0FINANCE"


def utc(*parts: int) -> dt.datetime:
    return dt.datetime(*parts, tzinfo=UTC)  # type: ignore[misc]


@asynccontextmanager
async def digest_bot(
    database_url: str, sim: SlackSimulator, clock: ManualClock
) -> AsyncIterator[BotUnderTest]:
    async with running_bot(bot_settings(database_url, sim), sim, clock=clock) as bot:
        yield bot


def parts(bot: BotUnderTest) -> DigestParts:
    digest: DigestParts = bot.runtime.digest
    return digest


async def seed(bot: BotUnderTest, *, connection_state: str = "disconnected") -> int:
    """A workspace with two EUR accounts, a week of movements and some open items.

    The connection is not active unless asked: no sync then reaches for a real provider.
    """
    database = bot.runtime.core.database
    workspace_id = await data.workspace(database)
    ponto = await data.connect(database, workspace_id, Provider.PONTO, state=connection_state)
    await data.connect(database, workspace_id, Provider.YUKI, state=connection_state)
    today = data.today()
    for account, moves in (
        (
            Account("KBC", "BE68 5390 0754 7034", "EUR", Decimal("12345.67")),
            [Decimal("1000"), Decimal("-250.50")],
        ),
        (Account("Belfius", "BE71096123456769", "EUR", Decimal("8000.00")), [Decimal("-80")]),
    ):
        account_id = await data.add_account(database, workspace_id, ponto, account)
        await data.add_transactions(
            database, account_id, "EUR", [(today - dt.timedelta(days=n + 1), m) for n, m in enumerate(moves)]
        )
    await data.add_items(
        database,
        workspace_id,
        ponto,
        [
            Item("Acme NV", "INV-1", Decimal("1200.00"), today - dt.timedelta(days=40)),
            Item("Brico BV", "INV-2", Decimal("300.00"), today - dt.timedelta(days=5)),
            Item("Cobra SA", "INV-3", Decimal("450.00"), today + dt.timedelta(days=3)),
            Item("Supplier", "BILL-1", Decimal("700.00"), today + dt.timedelta(days=2), kind="payable"),
        ],
    )
    return workspace_id


async def subscribe(bot: BotUnderTest, workspace_id: int, channel: str = CHANNEL) -> dict[str, Any]:
    """An admin allows figures in #finance and runs `/cashbot digest here` there."""
    await bot.runtime.services.access.set_public(workspace_id, channel, True)
    response = await bot.slack.command("/cashbot", "digest here", channel_id=channel)
    answer: dict[str, Any] = response.json()
    return answer


def digests_in(sim: SlackSimulator, channel: str = CHANNEL) -> list[dict[str, Any]]:
    """The digest messages Slack holds in a channel (by the outbox marker), oldest first."""
    return [
        m
        for m in sim.posted(channel)
        if (m.get("metadata") or {}).get("event_type") == MARKER_EVENT
        and str(m["metadata"]["event_payload"]["key"]).startswith("digest:")
    ]


def charts_in(sim: SlackSimulator, channel: str = CHANNEL) -> list[dict[str, Any]]:
    return [m for m in sim.posted(channel) if m.get("files")]


def text_of(message: dict[str, Any]) -> str:
    return blocks_to_text(message)


async def runs(bot: BotUnderTest) -> list[DigestRun]:
    async with bot.runtime.core.database.read() as session:
        return list((await session.scalars(select(DigestRun).order_by(DigestRun.period_key))).all())


async def outbox_rows(bot: BotUnderTest) -> list[OutboxMessage]:
    async with bot.runtime.core.database.read() as session:
        return list((await session.scalars(select(OutboxMessage).order_by(OutboxMessage.id))).all())


async def tick_and_send(bot: BotUnderTest) -> None:
    """What the worker's two jobs do, once each: decide what is due, then drain the outbox."""
    await parts(bot).runner.tick()
    await parts(bot).sender.drain()

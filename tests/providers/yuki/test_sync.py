"""The Yuki sync against the simulator: open items, paid invoices, unparsed items, the budget."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from bot.domain import Provider
from bot.features.sync.runner import SyncResult
from bot.sandbox.slack import SlackSimulator
from bot.sandbox.yuki import SANDBOX_KEY, YukiSimulator
from bot.sandbox.yuki_browser import connect_through_browser
from storage.models import Connection, LedgerBalance, OpenItem, SyncRun, UnparsedItem
from tests.harness import BotUnderTest, bot_settings, running_bot
from tests.yuki_support import connect_link, connect_yuki, finished_syncs, settle, wait_for_syncs


@pytest.fixture
async def connected(yuki_bot: BotUnderTest, yuki_sim: YukiSimulator) -> BotUnderTest:
    """A workspace whose Yuki is connected and synced once (the sync that follows the form)."""
    page = await connect_yuki(yuki_bot)
    assert "Yuki is connected" in page.text
    return yuki_bot


async def sync(bot: BotUnderTest) -> SyncResult:
    workspace_id = await bot.runtime.services.workspaces.workspace_id(bot.slack.team_id)
    return await bot.runtime.services.sync.run(workspace_id, Provider.YUKI, "test")


async def items(bot: BotUnderTest, kind: str = "receivable") -> dict[str, OpenItem]:
    async with bot.runtime.core.database.read() as session:
        rows = (await session.execute(select(OpenItem).where(OpenItem.kind == kind))).scalars()
        return {row.provider_item_id: row for row in rows}


async def unparsed(bot: BotUnderTest) -> dict[str, UnparsedItem]:
    async with bot.runtime.core.database.read() as session:
        return {row.provider_item_id: row for row in (await session.execute(select(UnparsedItem))).scalars()}


async def last_run(bot: BotUnderTest) -> SyncRun:
    async with bot.runtime.core.database.read() as session:
        return (await session.execute(select(SyncRun).order_by(SyncRun.id.desc()).limit(1))).scalar_one()


async def test_first_sync_stores_receivables_payables_and_the_bank_ledger(
    connected: BotUnderTest, yuki_sim: YukiSimulator
) -> None:
    receivables = await items(connected)
    payables = await items(connected, "payable")

    seeded = {item.id: item for item in yuki_sim.receivables()}
    assert set(receivables) == set(seeded)
    for item_id, row in receivables.items():
        assert (row.open_amount, row.currency, row.due_date, row.status) == (
            seeded[item_id].open_amount,
            seeded[item_id].currency,
            seeded[item_id].due_date,
            "open",
        )
    assert {row.currency for row in receivables.values()} == {"EUR", "USD"}
    assert any(row.open_amount < 0 for row in receivables.values()), "credit notes are stored negative"
    assert sum(r.open_amount for r in payables.values()) == sum(i.open_amount for i in yuki_sim.payables())
    async with connected.runtime.core.database.read() as session:
        ledger = list((await session.execute(select(LedgerBalance))).scalars())
    assert sum(row.amount for row in ledger) == yuki_sim.bank_and_cash_total()
    assert {row.gl_code[:2] for row in ledger} == {"55", "57"}
    run = await last_run(connected)
    amsterdam = ZoneInfo("Europe/Amsterdam")  # Yuki's day, whatever the machine's clock zone
    sync_days = {run.started_at.astimezone(amsterdam).date(), run.finished_at.astimezone(amsterdam).date()}
    assert {row.balance_date for row in ledger} <= sync_days
    assert run.outcome == "success" and run.trigger == "connect"
    assert run.items_fetched == len(seeded) + len(payables)
    assert run.api_calls == 3, "the session from the form is reused: debtors, creditors, ledger"


async def test_an_invoice_that_disappears_is_closed_with_the_time(
    connected: BotUnderTest, yuki_sim: YukiSimulator
) -> None:
    paid = yuki_sim.pay(yuki_sim.receivables()[10].id)

    result = await sync(connected)

    stored = await items(connected)
    assert result.outcome == "success"
    assert stored[paid.id].status == "closed"
    assert stored[paid.id].open_amount == paid.open_amount, "what was open is kept"
    run = await last_run(connected)
    assert stored[paid.id].closed_at is not None and stored[paid.id].closed_at >= run.started_at
    assert sum(1 for row in stored.values() if row.status == "open") == len(yuki_sim.receivables())
    assert json.loads(run.details or "{}")["receivable"]["closed"] == 1

    yuki_sim.main.receivables[paid.id] = paid  # booked back (the payment was reversed)
    await sync(connected)
    reopened = (await items(connected))[paid.id]
    assert (reopened.status, reopened.closed_at) == ("open", None)


async def test_an_item_that_fails_to_parse_is_recorded_kept_open_and_retried(
    connected: BotUnderTest, yuki_sim: YukiSimulator
) -> None:
    broken = yuki_sim.receivables()[3]
    before = (await items(connected))[broken.id]
    yuki_sim.corrupt(broken.id, "OpenAmount", "12,34,56")
    yuki_sim.corrupt(yuki_sim.receivables()[4].id, "ID", None)

    first = await sync(connected)
    second = await sync(connected)

    assert (first.outcome, second.outcome) == ("partial", "partial")
    records = await unparsed(connected)
    assert set(records) >= {broken.id} and len(records) == 2
    assert "OpenAmount '12,34,56' is not an amount" in records[broken.id].error
    assert records[broken.id].attempts == 2
    kept = (await items(connected))[broken.id]
    assert (kept.status, kept.open_amount) == ("open", before.open_amount), "neither closed nor changed"
    details = json.loads((await last_run(connected)).details or "{}")
    assert {entry["item"] for entry in details["unparsed"]} == set(records)

    yuki_sim.repair(broken.id)
    yuki_sim.main.receivables[broken.id].open_amount = Decimal("99.99")
    await sync(connected)
    assert broken.id not in await unparsed(connected)
    assert (await items(connected))[broken.id].open_amount == Decimal("99.99")


@pytest.mark.parametrize("mode", ["malformed", "xml_bomb", "wrong_envelope"])
async def test_a_bad_answer_fails_the_run_and_touches_nothing(
    connected: BotUnderTest, yuki_sim: YukiSimulator, mode: str
) -> None:
    before = {k: (v.status, v.open_amount) for k, v in (await items(connected)).items()}
    yuki_sim.fail(mode, operation="OutstandingDebtorItems")

    result = await sync(connected)

    assert result.outcome == "failed" and result.error_code == "malformed_response"
    assert {k: (v.status, v.open_amount) for k, v in (await items(connected)).items()} == before


async def test_the_budget_stops_calls_at_the_limit(
    database_url: str, slack_sim: SlackSimulator, yuki_sim: YukiSimulator
) -> None:
    # The form spends 2 calls (Authenticate, Administrations), the first sync 3: 5 of 6.
    settings = bot_settings(database_url, slack_sim, yuki_api_url=yuki_sim.api_url, yuki_daily_call_budget=6)
    async with running_bot(settings, slack_sim) as bot:
        await connect_yuki(bot)
        second = await sync(bot)
        calls_after_second = len(yuki_sim.calls)
        third = await sync(bot)
        status = (await bot.slack.command("/cashbot", "status")).json()
        await settle(bot)

    assert (second.outcome, second.error_code) == ("failed", "budget_spent")
    assert calls_after_second == 6, "the 7th call was refused before it left"
    assert third.error_code == "budget_spent" and len(yuki_sim.calls) == 6
    assert "Yuki calls left today: 0 of 6" in json.dumps(status)


async def test_yukis_own_limit_stops_calls_until_tomorrow(
    connected: BotUnderTest, yuki_sim: YukiSimulator
) -> None:
    yuki_sim.fail("daily_limit", operation="OutstandingDebtorItems")

    first = await sync(connected)
    calls = len(yuki_sim.calls)
    second = await sync(connected)

    assert first.error_code == "daily_limit"
    assert second.error_code == "budget_spent" and len(yuki_sim.calls) == calls


async def test_session_fault_during_a_sync_is_renewed_once(
    connected: BotUnderTest, yuki_sim: YukiSimulator
) -> None:
    yuki_sim.expire_sessions()

    result = await sync(connected)

    assert result.outcome == "success"
    assert [c.operation for c in yuki_sim.calls[-5:]] == [
        "OutstandingDebtorItems",
        "Authenticate",
        "OutstandingDebtorItems",
        "OutstandingCreditorItems",
        "GLAccountBalance",
    ]
    assert result.api_calls == 5


async def test_a_wrong_key_later_asks_for_a_reconnect(
    connected: BotUnderTest, yuki_sim: YukiSimulator
) -> None:
    yuki_sim.expire_sessions()
    yuki_sim.fail("invalid_key", operation="Authenticate")

    result = await sync(connected)

    assert result.error_code == "invalid_key"
    async with connected.runtime.core.database.read() as session:
        connection = (await session.execute(select(Connection))).scalar_one()
    assert connection.state == "needs_reauth"


async def test_disconnect_deletes_the_key(connected: BotUnderTest, yuki_sim: YukiSimulator) -> None:
    answer = (await connected.slack.command("/cashbot", "disconnect yuki")).json()

    async with connected.runtime.core.database.read() as session:
        connection = (await session.execute(select(Connection))).scalar_one()
    assert (connection.state, connection.credentials) == ("disconnected", None)
    assert "Web services" in json.dumps(answer), "tells where to delete the key in Yuki"
    calls = len(yuki_sim.calls)
    assert (await sync(connected)).outcome == "not_connected" and len(yuki_sim.calls) == calls


async def test_status_shows_calls_left_today(connected: BotUnderTest) -> None:
    status = json.dumps((await connected.slack.command("/cashbot", "status")).json())

    assert "Yuki calls left today: 795 of 800" in status  # 2 for the form, 3 for the first sync
    assert "Vandenbroucke Catering BV" in status


async def test_choosing_another_administration_forgets_the_old_ones_items(
    connected: BotUnderTest, yuki_sim: YukiSimulator
) -> None:
    small = next(a for a in yuki_sim.administrations.values() if a is not yuki_sim.main)
    before = await finished_syncs(connected)
    page = await connect_through_browser(await connect_link(connected), SANDBOX_KEY, small.id)
    await wait_for_syncs(connected, before + 1)

    assert small.name in page.text
    stored = await items(connected)
    assert set(stored) == set(small.receivables) and all(r.status == "open" for r in stored.values())


async def test_cashbot_sync_command_covers_yuki(connected: BotUnderTest, yuki_sim: YukiSimulator) -> None:
    paid = yuki_sim.pay(yuki_sim.receivables()[0].id)
    settings = connected.settings
    env = {
        **os.environ,
        "DATABASE_URL": settings.database_url,
        "CASHBOT_ENCRYPTION_KEYS": ",".join(settings.encryption_keys),
        "CASHBOT_AUDIT_KEY": settings.audit_key or "",
        "YUKI_API_URL": yuki_sim.api_url,
        "LOG_LEVEL": "WARNING",
    }
    cashbot = Path(sys.executable).with_name("cashbot")
    process = await asyncio.create_subprocess_exec(
        str(cashbot), "sync", "--provider", "yuki", env=env, stdout=asyncio.subprocess.PIPE
    )
    output, _ = await asyncio.wait_for(process.communicate(), 60)

    assert process.returncode == 0, output
    assert b"Yuki for workspace" in output and b"success" in output
    assert (await items(connected))[paid.id].status == "closed"

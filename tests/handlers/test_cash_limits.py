"""Slack's limits hold for a large workspace (300 accounts, 50,000 open items), answered over HTTP."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal

from bot.domain import Provider
from bot.render import MAX_FIELDS, MAX_MESSAGE_BLOCKS, MAX_TEXT, check_blocks, fit_blocks
from bot.sandbox.blocks_text import blocks_to_text
from tests.features import cash_data as data
from tests.harness import BotUnderTest

CURRENCIES = ("EUR", "USD", "GBP", "CHF", "SEK")
LONG = "Ŵïdé & <Lóng> *Name* " * 12  # 252 characters of awkward text


def within_limits(payload: dict) -> None:  # type: ignore[type-arg]
    blocks = payload["blocks"]
    check_blocks(blocks, MAX_MESSAGE_BLOCKS, "answer")
    assert len(blocks) <= MAX_MESSAGE_BLOCKS
    for block in blocks:
        assert len((block.get("text") or {}).get("text", "")) <= MAX_TEXT
        assert len(block.get("fields") or []) <= MAX_FIELDS
    assert payload["text"].strip()


async def test_300_accounts_and_50000_open_items(bot: BotUnderTest) -> None:
    database = bot.runtime.core.database
    workspace_id = await data.workspace(database, installed_by="U0ADMIN")
    ponto = await data.connect(database, workspace_id, Provider.PONTO)
    yuki = await data.connect(database, workspace_id, Provider.YUKI)
    for n in range(300):
        account = data.Account(
            f"{LONG[:240]}{n}", f"BE{n:02d}{n:012d}", CURRENCIES[n % 5], Decimal(n * 10), description=LONG
        )
        await data.add_account(database, workspace_id, ponto, account)
    today = data.today()
    await data.add_items(
        database,
        workspace_id,
        yuki,
        [
            data.Item(
                f"{LONG[:240]}{n % 5000}",
                f"INV-{n:06d}-{LONG[:100]}",
                Decimal(n % 9000 + 1),
                today - dt.timedelta(days=n % 400),
                CURRENCIES[n % 5],
                code=f"C{n % 5000}",
            )
            for n in range(50_000)
        ],
    )

    cash = (await bot.slack.command("/cash")).json()
    overdue = (await bot.slack.command("/overdue")).json()

    for payload in (cash, overdue):
        within_limits(payload)
    assert "…and 276 more accounts, included in the totals above." in blocks_to_text(cash)
    assert sum(1 for b in cash["blocks"] if b.get("fields")) == 5, "a total per currency"
    assert "Show more" in json.dumps(overdue) and "page 1 of " in blocks_to_text(overdue)
    assert "<Lóng>" not in json.dumps(cash, ensure_ascii=False)


def test_the_renderer_truncates_gracefully_instead_of_failing() -> None:
    many = [{"type": "section", "text": {"type": "mrkdwn", "text": f"block {n}"}} for n in range(80)]
    long_text = "\n".join(f"line {n} " + "x" * 90 for n in range(100))
    blocks = [
        *many[:60],
        {"type": "section", "text": {"type": "mrkdwn", "text": long_text}},
        {"type": "section", "fields": [{"type": "mrkdwn", "text": str(n)} for n in range(47)]},
        {"type": "actions", "elements": [{"type": "button", "text": {"type": "plain_text", "text": "Go"}}]},
    ]

    fitted = fit_blocks([*blocks[60:62], *blocks[:60], blocks[62]], MAX_MESSAGE_BLOCKS)

    check_blocks(fitted, MAX_MESSAGE_BLOCKS, "fitted")
    assert len(fitted) == MAX_MESSAGE_BLOCKS and fitted[-1]["type"] == "actions"
    assert fitted[-2]["elements"][0]["text"] == "…and 14 more"
    assert fitted[0]["text"]["text"].endswith("more lines") and len(fitted[0]["text"]["text"]) <= MAX_TEXT
    assert fitted[1]["fields"][-1]["text"] == "…and 38 more" and len(fitted[1]["fields"]) == MAX_FIELDS

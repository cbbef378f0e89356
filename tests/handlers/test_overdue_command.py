"""/overdue through the bot's HTTP server: figures, ageing, netting, filters, paging, hostile input, audit."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal

import pytest
from babel.numbers import format_currency
from sqlalchemy import func, select

from bot.domain import Provider
from bot.sandbox.blocks_text import blocks_to_text
from storage.models import Alert, AuditEvent, OpenItem
from tests.features import cash_data as data
from tests.features.cash_data import Item
from tests.harness import BotUnderTest


def ago(days: int) -> dt.date:
    return data.today() - dt.timedelta(days=days)


def sample_items() -> list[Item]:
    """The sample book, dated from today: built per test so a run across midnight stays right."""
    return [
        Item("Acme BV", "INV-001", Decimal("1210.00"), ago(5), code="C1"),
        Item("Acme BV", "INV-002", Decimal("500.00"), ago(45), code="C1"),
        Item("Acme BV", "CN-001", Decimal("-300.00"), ago(2), code="C1"),  # credit note: netted, oldest first
        Item("Société Générale SA", "INV-003", Decimal("8000.00"), ago(75), code="C2"),
        Item("Société Générale SA", "INV-004", Decimal("2500.00"), ago(120), code="C2"),
        Item("Brouwerij <!channel> & Zn", "INV-005", Decimal("99.99"), ago(1), code="C3"),
        # A credit note larger than what the customer owes:
        Item("Brouwerij <!channel> & Zn", "CN-002", Decimal("-500.00"), None, code="C3"),
        Item("Future NV", "INV-006", Decimal("700.00"), ago(-10), code="C4"),  # not due yet
        Item("Due Today NV", "INV-007", Decimal("70.00"), ago(0), code="C5"),  # due today: not overdue
        Item("Paid NV", "INV-008", Decimal("50.00"), ago(30), code="C6", status="closed"),
        Item("Supplier BV", "PUR-001", Decimal("900.00"), ago(30), code="S1", kind="payable"),
        Item("Yankee Inc", "INV-009", Decimal("1000.00"), ago(95), currency="USD", code="C7"),
    ]


# The sample book's answer, worked out by hand (days overdue in brackets):
#   Acme BV (C1)       INV-001 1,210.00 [5] -> 1-30;  INV-002 500.00 [45] -> 31-60;  CN-001 -300.00
#                      the credit note is netted oldest first: 31-60 becomes 200.00 (300.00 netted)
#   Société Générale   INV-003 8,000.00 [75] -> 61-90;  INV-004 2,500.00 [120] -> 90+
#   Brouwerij (C3)     INV-005 99.99 [1] -> 1-30;  CN-002 -500.00 nets all of it (99.99 netted)
#   not overdue        INV-006 (due in 10 days), INV-007 (due today), INV-008 (closed), PUR-001 (payable)
#   Yankee Inc         INV-009 USD 1,000.00 [95] -> 90+
EUR_BUCKETS = (Decimal("1210.00"), Decimal("200.00"), Decimal("8000.00"), Decimal("2500.00"))
EUR_TOTAL = Decimal("11910.00")  # 12,309.99 of invoices less 399.99 netted
EUR_INVOICES = 5  # INV-001, -002, -003, -004, -005
EUR_NETTED = Decimal("399.99")  # 300.00 for Acme, 99.99 for the brewery
USD_TOTAL = Decimal("1000.00")
SIXTY_DAYS_TOTAL, SIXTY_DAYS_INVOICES = Decimal("10500.00"), 2  # INV-003 and INV-004


def money(amount: Decimal, currency: str = "EUR") -> str:
    return str(format_currency(amount, currency, locale="nl_BE"))


async def seed(bot: BotUnderTest, items: list[Item] | None = None) -> int:
    database = bot.runtime.core.database
    workspace_id = await data.workspace(database, installed_by="U0ADMIN")
    yuki = await data.connect(database, workspace_id, Provider.YUKI)
    await data.add_items(database, workspace_id, yuki, sample_items() if items is None else items)
    return workspace_id


async def overdue(bot: BotUnderTest, text: str = "", user: str = "U0ADMIN") -> dict:  # type: ignore[type-arg]
    response = await bot.slack.command("/overdue", text, user_id=user)
    assert response.status_code == 200
    return response.json()  # type: ignore[no-any-return]


async def test_totals_ageing_and_netting_match_the_open_items(bot: BotUnderTest) -> None:
    await seed(bot)

    payload = await overdue(bot)

    text = blocks_to_text(payload)
    assert sum(EUR_BUCKETS) == EUR_TOTAL
    assert f"{money(EUR_TOTAL)} overdue in {EUR_INVOICES} invoices" in text
    assert f"{money(EUR_NETTED)} of credit notes netted per customer" in text
    for label, amount in zip(("1-30", "31-60", "61-90", "90+"), EUR_BUCKETS, strict=True):
        assert f"{label} days {money(amount)}" in text
    assert money(USD_TOTAL, "USD") in text
    assert payload["text"] == f"Overdue receivables: {money(EUR_TOTAL)} in {EUR_INVOICES} invoices"
    for absent in ("INV-006", "INV-007", "INV-008", "PUR-001", "CN-001"):
        assert absent not in text


async def test_largest_invoices_are_listed_with_days_overdue(bot: BotUnderTest) -> None:
    await seed(bot)

    text = blocks_to_text(await overdue(bot))

    listed = [line for line in text.splitlines() if line.startswith("•")]
    assert [line.split(" · ")[1] for line in listed] == [
        "INV-003",
        "INV-004",
        "INV-001",
        "INV-009",
        "INV-002",
        "INV-005",
    ]
    assert (
        listed[0]
        == f"• Société Générale SA · INV-003 · {money(Decimal(8000))} · due {_day(ago(75))} · 75 days"
    )


def _day(value: dt.date) -> str:
    from babel.dates import format_date

    return str(format_date(value, "medium", locale="nl_BE"))


async def test_min_days_and_customer_words_filter(bot: BotUnderTest) -> None:
    await seed(bot)

    sixty = blocks_to_text(await overdue(bot, "60"))
    societe = blocks_to_text(await overdue(bot, "SOCIETE"))
    both = blocks_to_text(await overdue(bot, "100 générale"))
    nobody = blocks_to_text(await overdue(bot, "30 nobody"))

    assert f"{money(SIXTY_DAYS_TOTAL)} overdue in {SIXTY_DAYS_INVOICES} invoices" in sixty
    assert "at least 60 days overdue" in sixty and "INV-001" not in sixty
    assert f"{money(Decimal(10500))} overdue in 2 invoices" in societe and "Acme" not in societe
    assert f"{money(Decimal(2500))} overdue in 1 invoice" in both and "INV-003" not in both
    assert "Nothing overdue with these filters" in nobody


async def test_show_more_pages_through_the_rest(bot: BotUnderTest) -> None:
    items = [
        Item(f"Klant {n:02d}", f"F-{n:02d}", Decimal(1000 + n), ago(10 + n), code=f"K{n}") for n in range(25)
    ]
    await seed(bot, items)

    first = await overdue(bot)
    button = _more_button(first)
    await bot.slack.block_action("overdue_more", button["value"], user_id="U0ADMIN")
    (second,) = await bot.sim.wait_for_response(1)
    await bot.slack.block_action("overdue_more", _more_button(second.params)["value"], user_id="U0ADMIN")
    third = (await bot.sim.wait_for_response(2))[1].params

    def refs(payload: dict) -> list[str]:  # type: ignore[type-arg]
        return [line.split(" · ")[1] for line in blocks_to_text(payload).splitlines() if line.startswith("•")]

    assert refs(first) == [f"F-{n:02d}" for n in range(24, 14, -1)]
    assert refs(second.params) == [f"F-{n:02d}" for n in range(14, 4, -1)]
    assert refs(third) == [f"F-{n:02d}" for n in range(4, -1, -1)]
    assert second.params["replace_original"] is True, "paging an ephemeral answer replaces it"
    assert "(21-25 of 25)" in blocks_to_text(third) and not any(
        b["type"] == "actions" for b in third["blocks"]
    )
    async with bot.runtime.core.database.read() as session:
        views = (
            await session.execute(
                select(AuditEvent).where(AuditEvent.action == "view.overdue").order_by(AuditEvent.seq)
            )
        ).scalars()
        shown = [json.loads(v.detail) for v in views]
    assert [d["page"] for d in shown] == [1, 2, 3]
    assert shown[2]["invoices"] == [f"F-{n:02d}" for n in range(4, -1, -1)] and shown[2]["items"] == 5


def _more_button(payload: dict) -> dict:  # type: ignore[type-arg]
    for block in payload["blocks"]:
        for element in block.get("elements", []):
            if element.get("action_id") == "overdue_more":
                return element  # type: ignore[no-any-return]
    raise AssertionError("no Show more button")


async def test_pulling_every_page_raises_an_alert(bot: BotUnderTest) -> None:
    items = [Item(f"Klant {n:02d}", f"F-{n:02d}", Decimal(100 + n), ago(3), code=f"K{n}") for n in range(50)]
    workspace_id = await seed(bot, items)

    payload = await overdue(bot)
    for page in range(2, 6):
        await bot.slack.block_action("overdue_more", _more_button(payload)["value"], user_id="U0ADMIN")
        payload = (await bot.sim.wait_for_response(page - 1))[-1].params

    alerts = await bot.runtime.services.alerts.open_alerts(workspace_id)
    assert [(a.kind, a.detail["pages"]) for a in alerts] == [("unusual_access", 5)]
    assert "paged through every overdue invoice" in alerts[0].title


HOSTILE = [
    "<!channel>",
    "<!here|here> *bold* _it_ ~strike~ `code` <https://evil.example|click>",
    "'; DROP TABLE open_item; --",
    "1 OR 1=1",
    "-5",
    "99999",
    "1e9",
    "3651",
    "٣٠",  # Arabic-Indic digits: not a number of days here, just words
    "💸 \u202eRTL\u200b zero-width",
    "a" * 4000,
    "x " * 2000,
    "%_%",
]


@pytest.mark.parametrize("text", HOSTILE, ids=range(len(HOSTILE)))
async def test_hostile_arguments_get_an_answer_or_the_usage(bot: BotUnderTest, text: str) -> None:
    await seed(bot)

    payload = await overdue(bot, text)

    raw = json.dumps(payload, ensure_ascii=False)
    assert payload["response_type"] == "ephemeral"
    assert "Overdue receivables" in raw or "Usage: `/overdue" in raw, raw[:300]
    assert "<!channel>" not in raw and "<!here" not in raw and "<https://evil" not in raw
    assert "Something went wrong" not in raw
    async with bot.runtime.core.database.read() as session:
        assert (await session.execute(select(func.count()).select_from(OpenItem))).scalar_one() == len(
            sample_items()
        )


async def test_customer_names_cannot_inject_mentions(bot: BotUnderTest) -> None:
    await seed(bot)

    raw = json.dumps(await overdue(bot, "brouwerij"), ensure_ascii=False)

    assert "Brouwerij &lt;!channel&gt; &amp; Zn" in raw and "<!channel>" not in raw


async def test_member_without_access_is_refused_and_many_refusals_alert(bot: BotUnderTest) -> None:
    workspace_id = await seed(bot)

    answers = [await overdue(bot, user="U0MEMBER") for _ in range(5)]

    assert all("don't have access" in a["text"] for a in answers)
    assert "INV-" not in json.dumps(answers)
    async with bot.runtime.core.database.read() as session:
        denied = (
            await session.execute(
                select(func.count()).select_from(AuditEvent).where(AuditEvent.outcome == "denied")
            )
        ).scalar_one()
        alerts = list((await session.execute(select(Alert))).scalars())
    assert denied == 5
    assert [(a.workspace_id, a.kind) for a in alerts] == [(workspace_id, "unusual_access")]


async def test_without_yuki_the_answer_offers_to_connect_it(bot: BotUnderTest) -> None:
    await data.workspace(bot.runtime.core.database, installed_by="U0ADMIN")

    payload = await overdue(bot)

    buttons = [e["action_id"] for b in payload["blocks"] if b["type"] == "actions" for e in b["elements"]]
    assert buttons == ["cashbot_connect_yuki"] and "Yuki is not connected yet" in blocks_to_text(payload)

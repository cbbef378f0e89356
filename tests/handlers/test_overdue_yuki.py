"""/overdue end to end: Yuki connected through its simulator, synced, then the figures checked against
what this test works out from the simulator's seeded books alone.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections import defaultdict
from decimal import Decimal

from babel.dates import format_date
from babel.numbers import format_currency

from bot.sandbox.blocks_text import blocks_to_text
from bot.sandbox.yuki import YukiSimulator
from bot.sandbox.yuki_seed import SimItem
from tests.harness import BotUnderTest
from tests.yuki_support import connect_yuki

BUCKETS = ((1, 30), (31, 60), (61, 90), (91, 10**6))


def brussels_today() -> dt.date:
    """The bot counts days overdue in the workspace's timezone."""
    return dt.datetime.now(zoneinfo.ZoneInfo("Europe/Brussels")).date()


def expected(items: list[SimItem], min_days: int = 1) -> dict[str, tuple[int, Decimal, list[Decimal]]]:
    """Per currency: overdue invoices, the total after netting each customer's credit notes, the buckets."""
    today = brussels_today()
    owed: dict[tuple[str, str], list[Decimal]] = defaultdict(lambda: [Decimal(0)] * 4)
    counts: dict[str, int] = defaultdict(int)
    credit: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    for item in items:
        key = (item.currency, item.contact.code)
        if item.open_amount < 0:
            credit[key] -= item.open_amount
            continue
        days = (today - item.due_date).days
        if days >= max(1, min_days):
            index = next(i for i, (low, high) in enumerate(BUCKETS) if low <= days <= high)
            owed[key][index] += item.open_amount
            counts[item.currency] += 1
    result: dict[str, tuple[int, Decimal, list[Decimal]]] = {}
    for (currency, _code), buckets in owed.items():
        left = credit[(currency, _code)]
        for index in (3, 2, 1, 0):
            used = min(left, buckets[index])
            buckets[index] -= used
            left -= used
        count, total, sums = result.get(currency, (counts[currency], Decimal(0), [Decimal(0)] * 4))
        result[currency] = (count, total + sum(buckets), [a + b for a, b in zip(sums, buckets, strict=True)])
    return result


def money(amount: Decimal, currency: str) -> str:
    return str(format_currency(amount, currency, locale="nl_BE"))


async def test_overdue_matches_the_seeded_books(yuki_bot: BotUnderTest, yuki_sim: YukiSimulator) -> None:
    page = await connect_yuki(yuki_bot)
    assert page.status == 200
    items = yuki_sim.receivables()

    everything = blocks_to_text((await yuki_bot.slack.command("/overdue")).json())
    sixty = blocks_to_text((await yuki_bot.slack.command("/overdue", "60")).json())

    for text, min_days in ((everything, 1), (sixty, 60)):
        want = expected(items, min_days)
        assert set(want) == {"EUR", "USD"}
        for currency, (count, total, buckets) in want.items():
            assert f"{money(total, currency)} overdue in {count} invoices" in text, (currency, min_days)
            for (low, high), amount in zip(BUCKETS, buckets, strict=True):
                label = "90+" if low == 91 else f"{low}-{high}"
                shown = f"{label} days {money(amount, currency)}" in text
                assert shown == (high >= min_days), (label, min_days)
    today = brussels_today()
    largest = sorted(
        (i for i in items if i.open_amount > 0 and (today - i.due_date).days >= 1),
        key=lambda i: i.open_amount,
        reverse=True,
    )[:10]
    listed = [line for line in everything.splitlines() if line.startswith("•")]
    assert [line.split(" · ")[1] for line in listed] == [i.reference for i in largest]
    top = largest[0]
    due = format_date(top.due_date, "medium", locale="nl_BE")
    days = (today - top.due_date).days
    assert listed[0] == (
        f"• {top.contact.name} · {top.reference} · {money(top.open_amount, top.currency)}"
        f" · due {due} · {days} days"
    )
    assert "Yuki: synced just now" in everything

"""The demo's reading steps: /cash, /overdue and /overdue 60 on the data synced from the simulators."""

from __future__ import annotations

from bot.demo.context import DemoContext


async def show_cash(demo: DemoContext) -> None:
    """The cash position: every bank account, the 7-day change, what is not yet booked in Yuki."""
    await demo.command("/cash")


async def show_overdue(demo: DemoContext) -> None:
    """Overdue receivables: totals, ageing, credit notes netted, the largest invoices."""
    await demo.command("/overdue")


async def show_overdue_60(demo: DemoContext) -> None:
    """Only what is at least 60 days late."""
    await demo.command("/overdue", "60")

"""The demo's Yuki step: an admin connects Yuki through cashbot's form, then the first sync runs."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from typing import Any

from sqlalchemy import func, select

from bot.demo.context import DemoContext
from bot.domain import Provider
from bot.sandbox.server import serve_simulator
from bot.sandbox.yuki import SANDBOX_KEY, YukiSimulator
from bot.sandbox.yuki_browser import YukiConnectBrowser
from storage.models import LedgerBalance, OpenItem, SyncRun


async def start_yuki_simulator(stack: AsyncExitStack) -> tuple[YukiSimulator, dict[str, Any]]:
    """The Yuki simulator on loopback, and the setting that points the bot at it."""
    sim = await stack.enter_async_context(serve_simulator(YukiSimulator()))
    return sim, {"yuki_api_url": sim.api_url}


async def connect_yuki(demo: DemoContext) -> None:
    """/cashbot connect yuki → the one-time page → key → administration → first sync."""
    yuki: YukiSimulator = demo.simulators["yuki"]
    link = _link(await demo.command("/cashbot", "connect yuki"))
    browser = YukiConnectBrowser(demo.browser)
    page = await browser.open(link)
    print(f"\n> Browser opens the link: HTTP {page.status}, the form asks for Yuki's web-service key")
    page = await browser.submit_key(SANDBOX_KEY)
    names = ", ".join(label for _, label in page.choices)
    print(f"> Browser submits the key: Yuki lists {len(page.choices)} administrations: {names}")
    page = await browser.choose(yuki.main.id)
    print(f"> Browser chooses {yuki.main.name}: HTTP {page.status}, " + _heading(page.text))
    for call in demo.sim.calls_to("chat.postMessage")[-1:]:
        demo.show(
            "cashbot → DM to the admin", {"text": call.params.get("text"), "blocks": _blocks(call.params)}
        )
    async for line in _first_sync(demo, yuki):
        print(line)
    await demo.command("/cashbot", "status")


async def _first_sync(demo: DemoContext, yuki: YukiSimulator) -> AsyncIterator[str]:
    database = demo.runtime.core.database
    async with asyncio.timeout(30):
        while True:
            async with database.read() as session:
                run = (
                    await session.execute(select(SyncRun).where(SyncRun.provider == Provider.YUKI.value))
                ).scalar_one_or_none()
            if run is not None and run.outcome != "running":
                break
            await asyncio.sleep(0.1)
    async with database.read() as session:
        counts = dict(
            (await session.execute(select(OpenItem.kind, func.count()).group_by(OpenItem.kind))).all()
        )
        overdue = (
            await session.execute(
                select(func.count()).where(OpenItem.kind == "receivable", OpenItem.due_date < yuki.today)
            )
        ).scalar_one()
        ledger, ledger_day = (
            await session.execute(
                select(func.sum(LedgerBalance.amount), func.max(LedgerBalance.balance_date))
            )
        ).one()
    yield (
        f"\n> First Yuki sync: {run.outcome}, {run.api_calls} calls: {counts.get('receivable', 0)} open "
        f"receivables ({overdue} overdue), {counts.get('payable', 0)} open payables, bank and cash "
        f"ledger balance EUR {ledger:,.2f} on {ledger_day}"
    )


def _link(payload: dict[str, Any]) -> str:
    for block in payload.get("blocks", []):
        for element in block.get("elements", []):
            if element.get("url"):
                return str(element["url"])
    raise RuntimeError("cashbot did not answer with a link")


def _heading(html: str) -> str:
    start = html.find("<h1>")
    return html[start + 4 : html.find("</h1>", start)] if start >= 0 else "no heading"


def _blocks(params: dict[str, Any]) -> list[Any]:
    blocks = params.get("blocks")
    if isinstance(blocks, str):
        blocks = json.loads(blocks)
    return blocks if isinstance(blocks, list) else []

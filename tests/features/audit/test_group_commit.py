"""Views recorded through the bot land in the hash chain; an edited or deleted view is found by verify."""

from __future__ import annotations

import asyncio
import json
import logging
from decimal import Decimal

import pytest
from sqlalchemy import select

from bot.clock import SystemClock
from bot.domain import Provider
from bot.errors import StorageUnavailable
from bot.features.audit.group_commit import AuditBatcher
from bot.features.audit.trail import AuditTrail
from storage.database import Database
from storage.models import AuditEvent
from tests.features import cash_data as data
from tests.features.audit.test_trail import tamper
from tests.harness import AUDIT_KEY, BotUnderTest, DatabaseFactory


async def views_recorded(bot: BotUnderTest) -> list[AuditEvent]:
    database = bot.runtime.core.database
    workspace_id = await data.workspace(database, installed_by="U0ADMIN")
    yuki = await data.connect(database, workspace_id, Provider.YUKI)
    await data.add_items(
        database,
        workspace_id,
        yuki,
        [data.Item(f"Klant {n}", f"F-{n}", Decimal(100 + n), data.today()) for n in range(3)],
    )
    for text in ("", "1", "klant", "2 klant"):
        await bot.slack.command("/overdue", text)
    await bot.slack.command("/cash", user_id="U0MEMBER")
    async with database.read() as session:
        return list((await session.execute(select(AuditEvent).order_by(AuditEvent.seq))).scalars())


@pytest.mark.parametrize(
    ("statement", "reason"),
    [
        ("UPDATE audit_event SET detail = '{\"invoices\": []}' WHERE seq = 2", "altered"),
        ("DELETE FROM audit_event WHERE seq = 2", "missing"),
    ],
)
async def test_an_edited_or_deleted_view_is_named(bot: BotUnderTest, statement: str, reason: str) -> None:
    rows = await views_recorded(bot)
    assert (await bot.runtime.services.audit.verify()).ok
    assert [(r.action, r.outcome) for r in rows] == [("view.overdue", "ok")] * 4 + [("view.cash", "denied")]
    assert json.loads(rows[1].detail)["filters"] == {"min_days": 1, "words": []}

    await tamper(bot.runtime.core.database, statement)
    report = await bot.runtime.services.audit.verify()

    assert not report.ok
    assert (report.broken[0].chain, report.broken[0].seq) == ("T0CASHBOT", 2) and reason in report.broken[
        0
    ].reason


async def test_concurrent_views_share_commits_and_keep_one_chain(
    database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="bot.features.audit.group_commit")
    database = Database(database_url, clock=SystemClock())
    trail = AuditTrail(database, AUDIT_KEY, clock=database.clock)
    batcher = AuditBatcher(trail)
    try:
        await asyncio.gather(
            *(batcher.record(team_id=f"T{n % 2}", actor=f"U{n}", action="view.cash") for n in range(60))
        )
        report = await trail.verify()
    finally:
        await database.dispose()

    heads = [r for r in caplog.records if r.getMessage() == "audit.head"]
    assert report.ok and report.rows == 60 and report.chains == 2
    assert 2 <= len(heads) < 60, "views were committed in batches"
    assert max(r.__dict__["seq"] for r in heads if r.__dict__["chain"] == "T0") == 30


async def test_deleting_the_newest_rows_shows_at_the_next_append(database_url: str) -> None:
    database = Database(database_url, clock=SystemClock())
    trail = AuditTrail(database, AUDIT_KEY, clock=database.clock)
    try:
        for n in range(5):
            await trail.record(team_id="T1", actor="U1", action="view.cash", detail={"n": n})
        await tamper(database, "DELETE FROM audit_event WHERE seq >= 4")
        hidden = await trail.verify()
        await trail.record(team_id="T1", actor="U1", action="view.cash", detail={"n": 5})
        shown = await trail.verify()
    finally:
        await database.dispose()

    assert hidden.ok, "a cut tail alone is invisible inside the database (hence the logged heads)"
    assert not shown.ok and shown.broken[0].seq == 4 and "missing" in shown.broken[0].reason


async def test_a_failed_group_commit_fails_every_view_waiting_on_it(
    databases: DatabaseFactory, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="bot.features.audit.group_commit")
    database = Database(await databases.read_only_url(), clock=SystemClock())  # the commit cannot land
    batcher = AuditBatcher(AuditTrail(database, AUDIT_KEY, clock=database.clock))
    try:
        outcomes = await asyncio.gather(
            *(batcher.record(team_id="T1", actor=f"U{n}", action="view.cash") for n in range(20)),
            return_exceptions=True,
        )
    finally:
        await database.dispose()

    assert all(isinstance(outcome, StorageUnavailable) for outcome in outcomes), outcomes
    assert not [r for r in caplog.records if r.getMessage() == "audit.head"], "nothing was committed"

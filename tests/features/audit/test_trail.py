"""The audit trail is append-only, hash-chained, and `cashbot audit verify` names the first bad row."""

from __future__ import annotations

import asyncio
import os
import sys

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from bot.clock import SystemClock
from bot.errors import ConstraintViolation
from bot.features.audit.trail import AuditTrail
from storage.database import Database
from tests.harness import AUDIT_KEY


@pytest.fixture
async def trail(database_url: str):  # type: ignore[no-untyped-def]
    database = Database(database_url, clock=SystemClock())
    yield database, AuditTrail(database, AUDIT_KEY, clock=database.clock)
    await database.dispose()


async def fill(trail: AuditTrail, count: int, team: str = "T1") -> None:
    for n in range(count):
        await trail.record(
            team_id=team, actor=f"U{n % 3}", action="view.overdue", detail={"invoices": [f"INV-{n}"]}
        )


async def tamper(database: Database, statement: str) -> None:
    """Change rows behind the application's back, as someone with database access could."""
    async with database.engine.begin() as connection:
        if database.is_sqlite:
            await connection.execute(text("DROP TRIGGER IF EXISTS audit_event_no_update"))
            await connection.execute(text("DROP TRIGGER IF EXISTS audit_event_no_delete"))
        else:
            await connection.execute(text("ALTER TABLE audit_event DISABLE TRIGGER USER"))
        await connection.execute(text(statement))
        if not database.is_sqlite:
            # PostgreSQL runs share one database (truncated per test): leave the guard as found.
            await connection.execute(text("ALTER TABLE audit_event ENABLE TRIGGER USER"))


async def test_intact_chain_verifies(trail) -> None:  # type: ignore[no-untyped-def]
    _, audit = trail
    await fill(audit, 20)
    await fill(audit, 5, team="T2")
    await audit.record(team_id=None, actor="cli", action="keys.rotated")

    report = await audit.verify()

    assert report.ok and report.rows == 26 and report.chains == 3


async def test_update_and_delete_are_refused_by_the_database(trail) -> None:  # type: ignore[no-untyped-def]
    database, audit = trail
    await fill(audit, 2)

    for statement in ("UPDATE audit_event SET actor = 'U9'", "DELETE FROM audit_event"):
        with pytest.raises((DBAPIError, ConstraintViolation), match="append-only"):
            async with database.write() as session:
                await session.execute(text(statement))


@pytest.mark.parametrize(
    ("statement", "seq", "reason"),
    [
        ("UPDATE audit_event SET detail = '{\"invoices\": []}' WHERE seq = 7", 7, "altered"),
        ("DELETE FROM audit_event WHERE seq = 5", 5, "missing"),
        (
            "UPDATE audit_event SET actor = CASE seq WHEN 3 THEN 'U1' WHEN 4 THEN 'U0' END"
            " WHERE seq IN (3, 4)",
            3,
            "altered",
        ),
    ],
)
async def test_tampering_is_found_at_the_first_bad_row(trail, statement: str, seq: int, reason: str) -> None:  # type: ignore[no-untyped-def]
    database, audit = trail
    await fill(audit, 10)
    await tamper(database, statement)

    report = await audit.verify()

    assert not report.ok
    assert (report.broken[0].chain, report.broken[0].seq) == ("T1", seq)
    assert reason in report.broken[0].reason


async def test_concurrent_appends_keep_one_unbroken_chain(trail) -> None:  # type: ignore[no-untyped-def]
    _, audit = trail

    await asyncio.gather(*(audit.record(team_id="T1", actor="U1", action=f"a{n}") for n in range(40)))

    report = await audit.verify()
    assert report.ok and report.rows == 40


async def test_cli_names_the_broken_row(trail, database_url: str) -> None:  # type: ignore[no-untyped-def]
    database, audit = trail
    await fill(audit, 6)
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "CASHBOT_ENCRYPTION_KEYS": _key(),
        "CASHBOT_AUDIT_KEY": AUDIT_KEY,
    }

    intact = await _run([sys.executable, "-m", "bot.app.cli", "audit", "verify"], env)
    await tamper(database, "DELETE FROM audit_event WHERE seq = 2")
    broken = await _run([sys.executable, "-m", "bot.app.cli", "audit", "verify"], env)

    assert intact[0] == 0 and "intact" in intact[1], intact[1]
    assert broken[0] == 1 and "chain T1: row 2" in broken[1] and "missing" in broken[1]


def _key() -> str:
    from storage.crypto import generate_key

    return generate_key()


async def _run(argv: list[str], env: dict[str, str]) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        *argv, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    out, _ = await process.communicate()
    return process.returncode or 0, out.decode()

"""Database.insert_rows: one transaction of its own, values stored exactly as the ORM stores them."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import Table, select

from bot.clock import SystemClock
from bot.errors import ConstraintViolation, StorageUnavailable
from storage.database import Database
from storage.models import AuditEvent
from tests.harness import DatabaseFactory

TABLE: Table = AuditEvent.__table__  # type: ignore[assignment]


def row(seq: int, when: dt.datetime) -> dict[str, object]:
    return {
        "chain": "T1",
        "seq": seq,
        "occurred_at": when,
        "team_id": "T1",
        "actor": "U1",
        "action": "view.cash",
        "outcome": "ok",
        "channel_id": None,
        "detail": '{"é": "ü"}',
        "prev_hash": "0" * 64,
        "row_hash": "1" * 64,
    }


async def test_rows_read_back_as_the_orm_wrote_them(database_url: str) -> None:
    database = Database(database_url, clock=SystemClock())
    when = dt.datetime(2026, 11, 24, 9, 30, 15, 123456, tzinfo=dt.timezone(dt.timedelta(hours=1)))
    async with database.write() as session:
        session.add(AuditEvent(**row(1, when)))  # type: ignore[arg-type]

    await database.insert_rows(TABLE, [row(2, when), row(3, when)])

    async with database.read() as session:
        stored = list((await session.execute(select(AuditEvent).order_by(AuditEvent.seq))).scalars())
    await database.dispose()
    assert [e.seq for e in stored] == [1, 2, 3]
    assert {e.occurred_at for e in stored} == {when.astimezone(dt.UTC)}
    assert all(e.occurred_at.tzinfo is not None and e.detail == '{"é": "ü"}' for e in stored)


async def test_a_duplicate_is_a_constraint_violation_and_none_of_the_batch_lands(database_url: str) -> None:
    database = Database(database_url, clock=SystemClock())
    now = dt.datetime.now(dt.UTC)
    await database.insert_rows(TABLE, [row(1, now)])

    with pytest.raises(ConstraintViolation):
        await database.insert_rows(TABLE, [row(2, now), row(1, now)])

    async with database.read() as session:
        seqs = list((await session.execute(select(AuditEvent.seq))).scalars())
    await database.dispose()
    assert seqs == [1]


async def test_a_read_only_database_is_unavailable(databases: DatabaseFactory) -> None:
    database = Database(await databases.read_only_url(), clock=SystemClock())

    with pytest.raises(StorageUnavailable):
        await database.insert_rows(TABLE, [row(1, dt.datetime.now(dt.UTC))])
    await database.dispose()

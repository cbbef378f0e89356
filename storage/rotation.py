"""`cashbot rotate-keys`: re-encrypt every encrypted column under the newest key, online."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Column, Row, Table, and_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.crypto import SecretBox
from storage.database import Database, affected_rows
from storage.models import Base

BATCH_SIZE = 200


@dataclass
class RotationReport:
    """How many values each table had re-encrypted, and how many changed under our feet."""

    rotated: dict[str, int] = field(default_factory=dict)
    skipped_concurrent: int = 0

    @property
    def total(self) -> int:
        return sum(self.rotated.values())


def encrypted_columns(table: Table) -> list[Column[str]]:
    return [column for column in table.columns if column.info.get("encrypted")]


async def sealed_values(session: AsyncSession) -> AsyncIterator[str]:
    """Every stored encrypted value, table by table (for checking that each one still decrypts)."""
    for table in Base.metadata.sorted_tables:
        columns = encrypted_columns(table)
        if not columns:
            continue
        for row in (await session.execute(select(*columns))).all():
            for value in row:
                if value is not None:
                    yield value


async def rotate_all(database: Database, box: SecretBox) -> RotationReport:
    """Rotate table by table in small transactions; safe while the bot serves.

    Each row is updated with a compare-and-swap on its old ciphertext, so a value the bot
    rewrote meanwhile (already under the newest key) is left alone.
    """
    report = RotationReport()
    for table in Base.metadata.sorted_tables:
        columns = encrypted_columns(table)
        if columns:
            await _rotate_table(database, box, table, columns, report)
    return report


async def _rotate_table(
    database: Database,
    box: SecretBox,
    table: Table,
    columns: list[Column[str]],
    report: RotationReport,
) -> None:
    (pk,) = table.primary_key.columns
    last_id = None
    while True:
        async with database.write() as session:
            query = select(pk, *columns).order_by(pk).limit(BATCH_SIZE)
            if last_id is not None:
                query = query.where(pk > last_id)
            rows = (await session.execute(query)).all()
            for row in rows:
                await _rotate_row(session, box, table, pk, columns, row, report)
        if len(rows) < BATCH_SIZE:
            return
        last_id = rows[-1][0]


async def _rotate_row(
    session: AsyncSession,
    box: SecretBox,
    table: Table,
    pk: Column[Any],
    columns: list[Column[str]],
    row: Row[Any],
    report: RotationReport,
) -> None:
    for index, column in enumerate(columns, start=1):
        old = row[index]
        if old is None or box.is_current(old):
            continue
        result = await session.execute(
            update(table).where(and_(pk == row[0], column == old)).values({column.name: box.rotate(old)})
        )
        if affected_rows(result):
            report.rotated[table.name] = report.rotated.get(table.name, 0) + 1
        else:
            report.skipped_concurrent += 1

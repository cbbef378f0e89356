"""Yuki's data at rest: open items (upsert, close what vanished), unparsed items, ledger balances,
and the per-domain daily call budget. Bulk statements are dialect upserts so a 20,000-item
answer is a few round trips, on SQLite and PostgreSQL alike."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from decimal import Decimal
from typing import Any, TypedDict

from sqlalchemy import Table, delete, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from storage.database import affected_rows, session_now
from storage.models import CallBudget, LedgerBalance, OpenItem, UnparsedItem

BATCH = 1000
OPEN = "open"
CLOSED = "closed"


class OpenItemValues(TypedDict):
    """One outstanding item as the repository stores it."""

    provider_item_id: str
    contact_name: str | None
    contact_code: str | None
    reference: str | None
    description: str | None
    item_type: str | None
    item_date: dt.date | None
    due_date: dt.date | None
    original_amount: Decimal | None
    open_amount: Decimal
    currency: str


class LedgerValues(TypedDict):
    """One ledger account's balance."""

    gl_code: str
    description: str | None
    amount: Decimal
    currency: str


# Column widths: longer text from the provider is cut, never refused (it is display text).
_WIDTHS = {"contact_name": 255, "contact_code": 64, "reference": 128, "item_type": 64, "description": 2000}


def _insert(session: AsyncSession, table: Table) -> Any:
    """INSERT with ON CONFLICT support for the session's dialect."""
    dialect = session.get_bind().dialect.name
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)


def _batches(rows: Sequence[Any]) -> Iterator[Sequence[Any]]:
    for start in range(0, len(rows), BATCH):
        yield rows[start : start + BATCH]


def _clamped(item: OpenItemValues) -> dict[str, Any]:
    row: dict[str, Any] = dict(item)
    for name, width in _WIDTHS.items():
        value = row.get(name)
        if isinstance(value, str) and len(value) > width:
            row[name] = value[:width]
    return row


async def upsert_open_items(
    session: AsyncSession,
    *,
    workspace_id: int,
    connection_id: int,
    kind: str,
    items: Sequence[OpenItemValues],
    seen_at: dt.datetime,
) -> int:
    """Insert new items and refresh known ones; an item seen again is open again."""
    table = OpenItem.__table__
    statement = _insert(session, table)  # type: ignore[arg-type]
    refreshed = {name: statement.excluded[name] for name in OpenItemValues.__annotations__}
    refreshed |= {"connection_id": statement.excluded.connection_id, "last_seen_at": seen_at}
    refreshed |= {"status": OPEN, "closed_at": None}
    statement = statement.on_conflict_do_update(
        index_elements=["workspace_id", "kind", "provider_item_id"], set_=refreshed
    )
    common = {
        "workspace_id": workspace_id,
        "connection_id": connection_id,
        "kind": kind,
        "status": OPEN,
        "first_seen_at": seen_at,
        "last_seen_at": seen_at,
        "closed_at": None,
    }
    for batch in _batches(items):
        await session.execute(statement, [_clamped(item) | common for item in batch])
    return len(items)


async def count_open_items(session: AsyncSession, *, workspace_id: int, kind: str) -> int:
    """How many items of this kind are open now (before a sync applies its answer)."""
    result = await session.execute(
        select(func.count())
        .select_from(OpenItem)
        .where(OpenItem.workspace_id == workspace_id, OpenItem.kind == kind, OpenItem.status == OPEN)
    )
    return int(result.scalar_one())


async def close_vanished_items(
    session: AsyncSession, *, workspace_id: int, kind: str, seen_at: dt.datetime
) -> int:
    """Close open items this answer did not list (paid or written off), at `seen_at`.

    An item that was listed but did not parse is still outstanding: it stays open.
    """
    unparsed = select(UnparsedItem.provider_item_id).where(
        UnparsedItem.workspace_id == workspace_id, UnparsedItem.kind == kind
    )
    result = await session.execute(
        update(OpenItem)
        .where(
            OpenItem.workspace_id == workspace_id,
            OpenItem.kind == kind,
            OpenItem.status == OPEN,
            OpenItem.last_seen_at != seen_at,
            OpenItem.provider_item_id.not_in(unparsed),
        )
        .values(status=CLOSED, closed_at=seen_at)
        .execution_options(synchronize_session=False)
    )
    return affected_rows(result)


async def record_unparsed(
    session: AsyncSession,
    *,
    workspace_id: int,
    kind: str,
    failures: Sequence[tuple[str, str]],
    seen_at: dt.datetime,
) -> None:
    """The items of this answer that did not parse, replacing the previous answer's list.

    `attempts` counts the answers in a row in which the item failed.
    """
    table = UnparsedItem.__table__
    statement = _insert(session, table)  # type: ignore[arg-type]
    statement = statement.on_conflict_do_update(
        index_elements=["workspace_id", "kind", "provider_item_id"],
        set_={
            "error": statement.excluded.error,
            "attempts": UnparsedItem.attempts + 1,
            "last_seen_at": seen_at,
        },
    )
    rows = [
        {
            "workspace_id": workspace_id,
            "kind": kind,
            "provider_item_id": key[:64],
            "error": reason[:500],
            "attempts": 1,
            "first_seen_at": seen_at,
            "last_seen_at": seen_at,
        }
        for key, reason in dict(failures).items()
    ]
    for batch in _batches(rows):
        await session.execute(statement, batch)
    await session.execute(
        delete(UnparsedItem).where(
            UnparsedItem.workspace_id == workspace_id,
            UnparsedItem.kind == kind,
            UnparsedItem.last_seen_at != seen_at,
        )
    )


async def replace_ledger_balances(
    session: AsyncSession,
    *,
    workspace_id: int,
    connection_id: int,
    balances: Sequence[LedgerValues],
    keep_codes: Sequence[str],
    balance_date: dt.date,
    fetched_at: dt.datetime,
) -> int:
    """Store today's balance per account; drop accounts no longer listed (except `keep_codes`,
    whose new value could not be read: their last known balance stays)."""
    statement = _insert(session, LedgerBalance.__table__)  # type: ignore[arg-type]
    statement = statement.on_conflict_do_update(
        index_elements=["workspace_id", "gl_code"],
        set_={
            "description": statement.excluded.description,
            "amount": statement.excluded.amount,
            "currency": statement.excluded.currency,
            "connection_id": statement.excluded.connection_id,
            "balance_date": balance_date,
            "fetched_at": fetched_at,
        },
    )
    common = {
        "workspace_id": workspace_id,
        "connection_id": connection_id,
        "balance_date": balance_date,
        "fetched_at": fetched_at,
    }
    if balances:
        await session.execute(statement, [dict(b) | common for b in balances])
    listed = [b["gl_code"] for b in balances] + list(keep_codes)
    await session.execute(
        delete(LedgerBalance).where(
            LedgerBalance.workspace_id == workspace_id, LedgerBalance.gl_code.not_in(listed)
        )
    )
    return len(balances)


async def forget_ledger(session: AsyncSession, workspace_id: int) -> None:
    """Delete a workspace's Yuki data (another administration was chosen)."""
    for model in (OpenItem, UnparsedItem, LedgerBalance):
        await session.execute(delete(model).where(model.workspace_id == workspace_id))


async def count_unparsed(session: AsyncSession, workspace_id: int) -> int:
    query = select(func.count()).select_from(UnparsedItem).where(UnparsedItem.workspace_id == workspace_id)
    return int((await session.execute(query)).scalar_one())


# ---- the daily call budget --------------------------------------------------------------------
async def spend_call(
    session: AsyncSession, *, provider: str, scope: str, day: dt.date, limit: int
) -> int | None:
    """Count one call if the day's count is below `limit`: the new count, or None when spent.

    One statement (an upsert with a condition), so concurrent callers in any process can never
    together go past the limit.
    """
    table = CallBudget.__table__
    statement = _insert(session, table).values(  # type: ignore[arg-type]
        provider=provider, scope_key=scope, day=day, calls=1, updated_at=session_now(session)
    )
    statement = statement.on_conflict_do_update(
        index_elements=["provider", "scope_key", "day"],
        set_={"calls": CallBudget.calls + 1, "updated_at": session_now(session)},
        where=CallBudget.calls < limit,
    ).returning(CallBudget.calls)
    count = (await session.execute(statement)).scalar_one_or_none()
    return None if count is None else int(count)


async def add_calls(
    session: AsyncSession, *, provider: str, scope: str, day: dt.date, calls: int, at_least: bool = False
) -> None:
    """Add `calls` to the day's count (or, with `at_least`, raise it to at least `calls`)."""
    table = CallBudget.__table__
    statement = _insert(session, table).values(  # type: ignore[arg-type]
        provider=provider, scope_key=scope, day=day, calls=calls, updated_at=session_now(session)
    )
    grown = (
        func.max(CallBudget.calls, calls) if _is_sqlite(session) else func.greatest(CallBudget.calls, calls)
    )
    statement = statement.on_conflict_do_update(
        index_elements=["provider", "scope_key", "day"],
        set_={"calls": grown if at_least else CallBudget.calls + calls, "updated_at": session_now(session)},
    )
    await session.execute(statement)


async def calls_spent(session: AsyncSession, *, provider: str, scope: str, day: dt.date) -> int:
    query = select(CallBudget.calls).where(
        CallBudget.provider == provider, CallBudget.scope_key == scope, CallBudget.day == day
    )
    return int((await session.execute(query)).scalar_one_or_none() or 0)


def _is_sqlite(session: AsyncSession) -> bool:
    return session.get_bind().dialect.name == "sqlite"

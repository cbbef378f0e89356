"""Alert rows: one per workspace and dedupe key, moved between states, counting occurrences."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.database import affected_rows
from storage.models import Alert


def add_alert(session: AsyncSession, alert: Alert) -> None:
    """Add the alert; the commit breaks a constraint when one with its key exists."""
    session.add(alert)


async def move_alert(
    session: AsyncSession,
    workspace_id: int,
    dedupe_key: str,
    states: Sequence[str],
    *,
    count: bool = False,
    **values: Any,
) -> bool:
    """Update the alert with this key if it is in one of `states` (one more occurrence if `count`)."""
    if count:
        values["occurrences"] = Alert.occurrences + 1
    result = await session.execute(
        update(Alert)
        .where(Alert.workspace_id == workspace_id, Alert.dedupe_key == dedupe_key, Alert.state.in_(states))
        .values(**values)
    )
    return affected_rows(result) == 1


async def alerts_in(session: AsyncSession, workspace_id: int, states: Sequence[str]) -> Sequence[Alert]:
    """The workspace's alerts in one of `states`, oldest first."""
    rows = await session.execute(
        select(Alert)
        .where(Alert.workspace_id == workspace_id, Alert.state.in_(states))
        .order_by(Alert.created_at)
    )
    return rows.scalars().all()

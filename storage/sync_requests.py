""" "Sync now" request rows: one waiting per workspace, claimed by compare-and-swap, then finished."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ColumnElement, and_, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.database import affected_rows
from storage.models import SyncRequest
from storage.workspaces import with_team_id


def add_request(session: AsyncSession, request: SyncRequest) -> None:
    """Add the request; the commit breaks a constraint when one already waits for the workspace."""
    session.add(request)


async def expire_requests(
    session: AsyncSession, created_before: dt.datetime, now: dt.datetime, outcome: str
) -> None:
    """Finish every unfinished request created before `created_before`, forgetting its response_url."""
    await session.execute(
        update(SyncRequest)
        .where(SyncRequest.finished_at.is_(None), SyncRequest.created_at < created_before)
        .values(finished_at=now, outcome=outcome, response_url=None)
    )


def _claimable(now: dt.datetime, stale_claim: dt.timedelta) -> ColumnElement[bool]:
    return and_(
        SyncRequest.finished_at.is_(None),
        or_(SyncRequest.not_before.is_(None), SyncRequest.not_before <= now),
        or_(SyncRequest.claimed_at.is_(None), SyncRequest.claimed_at < now - stale_claim),
    )


async def claimable_ids(
    session: AsyncSession, now: dt.datetime, stale_claim: dt.timedelta, limit: int
) -> list[int]:
    """Unfinished, due requests nobody holds (or whose claim went stale), oldest first."""
    rows = await session.execute(
        select(SyncRequest.id)
        .where(_claimable(now, stale_claim))
        .order_by(SyncRequest.created_at)
        .limit(limit)
    )
    return list(rows.scalars())


async def claim(
    session: AsyncSession, request_id: int, owner: str, now: dt.datetime, stale_claim: dt.timedelta
) -> bool:
    """Take the request if it is still claimable; False when another worker was first."""
    result = await session.execute(
        update(SyncRequest)
        .where(SyncRequest.id == request_id, _claimable(now, stale_claim))
        .values(claimed_at=now, claimed_by=owner)
    )
    return affected_rows(result) == 1


async def request_with_team(session: AsyncSession, request_id: int) -> tuple[SyncRequest, str]:
    """The request and its workspace's team id."""
    found = await with_team_id(session, SyncRequest, SyncRequest.workspace_id, SyncRequest.id == request_id)
    if found is None:
        raise LookupError(f"sync request {request_id} is gone")
    return found


async def release(session: AsyncSession, request_id: int, not_before: dt.datetime) -> None:
    """Give the claim back, to be claimed again from `not_before`."""
    await session.execute(
        update(SyncRequest)
        .where(SyncRequest.id == request_id)
        .values(claimed_at=None, claimed_by=None, not_before=not_before)
    )


async def finish(session: AsyncSession, request_id: int, now: dt.datetime, outcome: str) -> None:
    """Record the outcome and forget the response_url (it is no use any more)."""
    await session.execute(
        update(SyncRequest)
        .where(SyncRequest.id == request_id)
        .values(finished_at=now, outcome=outcome, response_url=None)
    )

"""Connect link rows: hashed one-time tokens, their binding, CSRF hash and stashed secret."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ColumnElement, and_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.database import affected_rows
from storage.models import ConnectLink
from storage.workspaces import with_team_id


def _live() -> ColumnElement[bool]:
    """Neither used nor revoked (it may still have expired)."""
    return and_(ConnectLink.used_at.is_(None), ConnectLink.revoked_at.is_(None))


async def revoke_live_links(
    session: AsyncSession, workspace_id: int, provider: str, now: dt.datetime
) -> None:
    """Revoke the workspace's unused, unrevoked links for `provider`, dropping any stashed secret."""
    await session.execute(
        update(ConnectLink)
        .where(ConnectLink.workspace_id == workspace_id, ConnectLink.provider == provider, _live())
        .values(revoked_at=now, pending_secret=None)
    )


def add_link(session: AsyncSession, link: ConnectLink) -> None:
    session.add(link)


async def link_by_hash(session: AsyncSession, hashed: str) -> tuple[ConnectLink, str] | None:
    """The link with this token hash and its workspace's team id, None when there is none."""
    return await with_team_id(
        session, ConnectLink, ConnectLink.workspace_id, ConnectLink.token_hash == hashed
    )


async def use_link(session: AsyncSession, link_id: int, now: dt.datetime) -> bool:
    """Mark the link used if it is still live at `now`; False when another use (or expiry) won."""
    result = await session.execute(
        update(ConnectLink)
        .where(ConnectLink.id == link_id, _live(), ConnectLink.expires_at > now)
        .values(used_at=now, pending_secret=None)
    )
    return affected_rows(result) == 1


async def set_pending_secret(session: AsyncSession, link_id: int, sealed: str) -> None:
    await session.execute(update(ConnectLink).where(ConnectLink.id == link_id).values(pending_secret=sealed))


async def pending_secret(session: AsyncSession, link_id: int) -> str | None:
    return (
        await session.execute(select(ConnectLink.pending_secret).where(ConnectLink.id == link_id))
    ).scalar_one_or_none()


async def set_csrf(session: AsyncSession, link_id: int, hashed: str, now: dt.datetime) -> None:
    """Keep the form's CSRF hash and note when the link was opened."""
    await session.execute(
        update(ConnectLink).where(ConnectLink.id == link_id).values(csrf_hash=hashed, opened_at=now)
    )


async def csrf_hash(session: AsyncSession, link_id: int) -> str | None:
    return (
        await session.execute(select(ConnectLink.csrf_hash).where(ConnectLink.id == link_id))
    ).scalar_one_or_none()

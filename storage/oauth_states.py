"""OAuth state rows of a provider's consent flow: hashed, bound to a workspace and user, used once."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import delete, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.database import affected_rows
from storage.models import OAuthState
from storage.workspaces import with_team_id


async def delete_expired_states(session: AsyncSession, cutoff: dt.datetime) -> int:
    """Delete OAuth states that expired before `cutoff`; how many went."""
    result = await session.execute(delete(OAuthState).where(OAuthState.expires_at < cutoff))
    return affected_rows(result)


def add_state(session: AsyncSession, state: OAuthState) -> None:
    session.add(state)


async def state_with_team(session: AsyncSession, hashed: str, provider: str) -> tuple[OAuthState, str] | None:
    """The provider's state with this hash and its workspace's team id, None when there is none."""
    where = (OAuthState.state_hash == hashed, OAuthState.provider == provider)
    return await with_team_id(session, OAuthState, OAuthState.workspace_id, *where)


async def use_state(session: AsyncSession, state_id: int, now: dt.datetime) -> bool:
    """Mark the state used and drop its verifier; False when another callback used it first."""
    result = await session.execute(
        update(OAuthState)
        .where(OAuthState.id == state_id, OAuthState.used_at.is_(None))
        .values(used_at=now, code_verifier=None)
    )
    return affected_rows(result) == 1

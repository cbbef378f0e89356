"""Workspace rows: create on first sight, forget on uninstall."""

from __future__ import annotations

from typing import Any, TypeVar

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from storage.database import session_now
from storage.models import (
    AccessGrant,
    Alert,
    BankAccount,
    BankTransaction,
    Connection,
    ConnectLink,
    DigestRun,
    LedgerBalance,
    OAuthState,
    OpenItem,
    SlackBot,
    SlackInstallation,
    SyncRequest,
    SyncRun,
    UnparsedItem,
    Workspace,
)

Row = TypeVar("Row")


async def find_workspace(session: AsyncSession, team_id: str) -> Workspace | None:
    return (await session.execute(select(Workspace).where(Workspace.team_id == team_id))).scalar_one_or_none()


async def with_team_id(
    session: AsyncSession, model: type[Row], workspace_id: InstrumentedAttribute[Any], *where: Any
) -> tuple[Row, str] | None:
    """The `model` row matching `where`, with the team id of its workspace (joined on `workspace_id`)."""
    found = (
        await session.execute(
            select(model, Workspace.team_id).join(Workspace, Workspace.id == workspace_id).where(*where)
        )
    ).one_or_none()
    return None if found is None else (found[0], found[1])


async def workspace_timezone(session: AsyncSession, workspace_id: int) -> str | None:
    """The workspace's IANA timezone name, None when it has none (or no such workspace)."""
    return (
        await session.execute(select(Workspace.timezone).where(Workspace.id == workspace_id))
    ).scalar_one_or_none()


async def ensure_workspace(
    session: AsyncSession,
    team_id: str,
    *,
    timezone: str,
    name: str | None = None,
    installed_by_user_id: str | None = None,
    enterprise_id: str | None = None,
) -> Workspace:
    """The workspace row for `team_id`, created (or revived after an uninstall) as needed."""
    workspace = await find_workspace(session, team_id)
    if workspace is None:
        workspace = Workspace(team_id=team_id, timezone=timezone, enterprise_id=enterprise_id)
        session.add(workspace)
    workspace.uninstalled_at = None
    if name:
        workspace.name = name
    if installed_by_user_id:
        workspace.installed_by_user_id = installed_by_user_id
    await session.flush()
    return workspace


async def delete_slack_tokens(session: AsyncSession, team_id: str, user_ids: list[str] | None = None) -> None:
    """Delete stored Slack tokens of a team: every one, or only those of the given users."""
    installs = delete(SlackInstallation).where(SlackInstallation.team_key == team_id)
    if user_ids is not None:
        installs = installs.where(SlackInstallation.user_id.in_(user_ids))
    await session.execute(installs)
    if user_ids is None:
        await session.execute(delete(SlackBot).where(SlackBot.team_key == team_id))


async def forget_workspace(session: AsyncSession, team_id: str) -> int | None:
    """Uninstall: delete tokens, credentials and financial data; keep the row and the audit trail.

    Financial rows hang off `connection` and `workspace` with ON DELETE CASCADE; they are
    deleted explicitly here too so the purge does not depend on the database enforcing it.
    """
    await delete_slack_tokens(session, team_id)
    workspace = await find_workspace(session, team_id)
    if workspace is None:
        return None
    accounts = select(BankAccount.id).where(BankAccount.workspace_id == workspace.id)
    await session.execute(delete(BankTransaction).where(BankTransaction.account_id.in_(accounts)))
    for model in _WORKSPACE_DATA:
        await session.execute(delete(model).where(model.workspace_id == workspace.id))
    await session.execute(
        update(Workspace)
        .where(Workspace.id == workspace.id)
        .values(uninstalled_at=session_now(session), digest_enabled=False)
    )
    return workspace.id


# Children before parents, so the purge works even where foreign keys are not enforced.
_WORKSPACE_DATA = (
    BankAccount,
    OpenItem,
    LedgerBalance,
    UnparsedItem,
    SyncRequest,
    SyncRun,
    Alert,
    DigestRun,
    AccessGrant,
    ConnectLink,
    OAuthState,
    Connection,
)

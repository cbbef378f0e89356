"""Who may do what: who manages cashbot, who may see financial data, and where answers may be public.

- Managers (`managers()`): whoever installed cashbot and whoever connected a provider. With the
  workspace admins they may connect and disconnect providers, grant and revoke access, and choose
  the channels where answers may be posted publicly.
- Viewers: managers, admins, and members granted with `/cashbot access grant @user`.
- Public answers: only in channels a manager allowed (`/cashbot access public add #channel`).
  Posting there shows the figures to the channel; it never lets a member without access query.

Viewing decisions use a policy cached for a few seconds per process (a revocation takes effect at
once in the process that handled it, and within `POLICY_SECONDS` everywhere else).
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Callable
from dataclasses import dataclass

from bot.clock import Clock
from bot.domain import Actor
from storage import access as queries
from storage.database import Database

POLICY_SECONDS = 10.0
MAX_PUBLIC_CHANNELS = 50


@dataclass(frozen=True)
class AccessPolicy:
    """Who may see a workspace's financial data, and where answers may be public."""

    managers: frozenset[str]
    granted: frozenset[str]
    public_channels: frozenset[str]

    def can_view(self, actor: Actor) -> bool:
        return actor.is_admin or actor.user_id in self.managers or actor.user_id in self.granted

    def can_manage(self, actor: Actor) -> bool:
        return actor.is_admin or actor.user_id in self.managers

    def public_allowed(self, channel_id: str) -> bool:
        return channel_id in self.public_channels


@dataclass(frozen=True)
class GrantView:
    """One member granted access, by whom and when."""

    user_id: str
    granted_by: str
    granted_at: dt.datetime


class AccessService:
    """Answers permission questions about a Slack user in a workspace, and keeps the grants."""

    def __init__(
        self,
        database: Database,
        *,
        clock: Clock,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._database = database
        self._clock = clock
        self._monotonic = monotonic
        self._policies: dict[int, tuple[float, AccessPolicy]] = {}

    async def managers(self, workspace_id: int) -> set[str]:
        """User ids (besides workspace admins) who may manage cashbot here."""
        async with self._database.read() as session:
            installer = await queries.installer(session, workspace_id)
            connectors = await queries.connectors(session, workspace_id)
            return {user for user in (installer, *connectors) if user}

    async def can_manage(self, actor: Actor, workspace_id: int) -> bool:
        """Connecting or disconnecting a bank or the books is a high-risk change: admins and managers only."""
        return actor.is_admin or actor.user_id in await self.managers(workspace_id)

    async def policy(self, workspace_id: int) -> AccessPolicy:
        """The workspace's viewing policy (cached for POLICY_SECONDS in this process)."""
        cached = self._policies.get(workspace_id)
        if cached is not None and cached[0] > self._monotonic():
            return cached[1]
        policy = await self._load_policy(workspace_id)
        self._policies[workspace_id] = (self._monotonic() + POLICY_SECONDS, policy)
        return policy

    async def _load_policy(self, workspace_id: int) -> AccessPolicy:
        managers = await self.managers(workspace_id)
        async with self._database.read() as session:
            granted = await queries.granted_users(session, workspace_id)
            public = await queries.public_channels(session, workspace_id)
            return AccessPolicy(frozenset(managers), frozenset(granted), frozenset(_channels(public)))

    def forget(self, workspace_id: int) -> None:
        self._policies.pop(workspace_id, None)

    async def can_view(self, actor: Actor, workspace_id: int) -> bool:
        return (await self.policy(workspace_id)).can_view(actor)

    async def grants(self, workspace_id: int) -> list[GrantView]:
        async with self._database.read() as session:
            rows = await queries.grants(session, workspace_id)
            return [GrantView(r.slack_user_id, r.granted_by_user_id, r.created_at) for r in rows]

    async def grant(self, workspace_id: int, user_id: str, granted_by: str) -> bool:
        """Let `user_id` see financial data; False when they already could through a grant."""
        try:
            return await queries.add_grant(
                self._database, workspace_id, user_id, granted_by, self._clock.now()
            )
        finally:
            self.forget(workspace_id)

    async def revoke(self, workspace_id: int, user_id: str) -> bool:
        """Withdraw a grant; False when there was none."""
        async with self._database.write() as session:
            removed = await queries.delete_grant(session, workspace_id, user_id)
        self.forget(workspace_id)
        return removed

    async def set_public(self, workspace_id: int, channel_id: str, allowed: bool) -> bool:
        """Allow or stop public answers in a channel; False when nothing changed."""
        async with self._database.write() as session:
            workspace = await queries.workspace_for_update(session, workspace_id)
            channels = _channels(workspace.public_channel_ids)
            changed = (channel_id not in channels) if allowed else (channel_id in channels)
            if allowed:
                channels = [*channels, channel_id][-MAX_PUBLIC_CHANNELS:] if changed else channels
            else:
                channels = [c for c in channels if c != channel_id]
            workspace.public_channel_ids = json.dumps(channels)
        self.forget(workspace_id)
        return changed


def _channels(stored: str | None) -> list[str]:
    """The stored JSON list of channel ids; anything unreadable counts as none (fail closed)."""
    try:
        loaded = json.loads(stored or "[]")
    except ValueError:
        return []
    return [c for c in loaded if isinstance(c, str)] if isinstance(loaded, list) else []

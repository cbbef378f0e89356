"""The door to financial data: who may look, where an answer may be public, and the record that they looked.

Every request for /cash or /overdue goes through `ViewGate.admit`: a refusal is audited (and
counted by the usage watch) before the polite answer; an admitted view is audited with what was
shown (`viewed`) before the answer leaves, so an answer that reached Slack is always in the trail.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from bot.domain import Actor, AuditOutcome
from bot.features.access.rights import AccessService
from bot.features.access.usage_watch import UsageWatch
from bot.providers.base import Audit

AuditRecorder = Audit  # AuditTrail or AuditBatcher: the one protocol, in bot.providers.base


@dataclass(frozen=True)
class Admission:
    """The gate's decision for one request."""

    actor: Actor
    workspace_id: int
    channel_id: str
    command: str
    allowed: bool
    public: bool  # the answer goes to the channel
    public_refused: bool  # `public` was asked where the workspace does not allow it
    can_manage: bool  # may connect providers and grant access
    managers: tuple[str, ...]  # who (besides admins) can grant access and connect


class ViewGate:
    """Checks access, records refusals and views, and feeds the usage watch."""

    def __init__(self, access: AccessService, audit: AuditRecorder, watch: UsageWatch) -> None:
        self._access = access
        self._audit = audit
        self._watch = watch

    async def admit(
        self, actor: Actor, workspace_id: int, channel_id: str, command: str, *, wants_public: bool = False
    ) -> Admission:
        policy = await self._access.policy(workspace_id)
        managers = tuple(sorted(policy.managers))
        if not policy.can_view(actor):
            await self._audit.record(
                team_id=actor.team_id,
                actor=actor.user_id,
                action=_action(command),
                outcome=AuditOutcome.DENIED,
                channel_id=channel_id,
                detail={"command": command},
            )
            await self._watch.refused(workspace_id, actor.user_id)
            return Admission(actor, workspace_id, channel_id, command, False, False, False, False, managers)
        public = wants_public and policy.public_allowed(channel_id)
        return Admission(
            actor,
            workspace_id,
            channel_id,
            command,
            allowed=True,
            public=public,
            public_refused=wants_public and not public,
            can_manage=policy.can_manage(actor),
            managers=managers,
        )

    async def viewed(self, admission: Admission, detail: dict[str, Any]) -> None:
        """Record that an admitted reader was shown data (call before the answer leaves)."""
        await self._audit.record(
            team_id=admission.actor.team_id,
            actor=admission.actor.user_id,
            action=_action(admission.command),
            channel_id=admission.channel_id,
            detail={"command": admission.command, "public": admission.public, **detail},
        )

    async def overdue_page_viewed(
        self, admission: Admission, filter_key: str, page: int, pages: int, items: int
    ) -> None:
        await self._watch.page_viewed(
            admission.workspace_id, admission.actor.user_id, filter_key, page, pages, items
        )


def _action(command: str) -> str:
    return "view." + command.strip("/").split()[0]


def invoice_numbers(references: Sequence[str | None]) -> list[str]:
    """The invoice numbers shown, as the audit detail lists them."""
    return [reference or "—" for reference in references]

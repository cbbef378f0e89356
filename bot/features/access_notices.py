"""Unusual access (the usage watch) goes by DM to the workspace's admins and managers, once each."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from bot.features.access.rights import AccessService
from storage.outbox import Envelope, Outbox

log = logging.getLogger(__name__)

Admins = Callable[[int], Awaitable[set[str]]]  # a workspace's Slack admins and owners
ComposeNotice = Callable[[str], dict[str, Any]]


class UnusualAccessNotices:
    """A UsageWatch listener: one DM per recipient and alert (the alert's key is in the outbox key)."""

    def __init__(self, access: AccessService, admins: Admins, outbox: Outbox, compose: ComposeNotice) -> None:
        self._access = access
        self._admins = admins
        self._outbox = outbox
        self._compose = compose

    async def unusual(self, workspace_id: int, dedupe_key: str, title: str) -> int:
        """Enqueue the DMs; how many were new."""
        recipients = await self._access.managers(workspace_id) | await self._admins(workspace_id)
        payload = self._compose(title)
        envelopes = [
            Envelope(f"access:{dedupe_key}:{user}", workspace_id, "access:dm", user, payload)
            for user in sorted(recipients)
        ]
        new = await self._outbox.add(envelopes)
        log.info("access.unusual_told", extra={"workspace_id": workspace_id, "recipients": len(envelopes)})
        return new

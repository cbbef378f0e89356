"""A workspace's Slack admins and owners (users.list, cached), for the DMs only they and managers get."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.delivery.clients import NoToken, WorkspaceClients
from storage.database import Database
from storage.models import Workspace

log = logging.getLogger(__name__)

CACHE_SECONDS = 600.0
LOOKUP_SECONDS = 3.0  # the lookup runs inside a request: past this, managers alone are told


class SlackAdmins:
    """`await admins(workspace_id)`: user ids with is_admin or is_owner; empty when Slack cannot say."""

    def __init__(
        self, database: Database, clients: WorkspaceClients, monotonic: Callable[[], float] = time.monotonic
    ) -> None:
        self._database = database
        self._clients = clients
        self._monotonic = monotonic
        self._cache: dict[int, tuple[float, set[str]]] = {}

    async def __call__(self, workspace_id: int) -> set[str]:
        cached = self._cache.get(workspace_id)
        if cached is not None and cached[0] > self._monotonic():
            return cached[1]
        try:
            async with asyncio.timeout(LOOKUP_SECONDS):
                admins = await self._lookup(workspace_id)
        except (SlackApiError, NoToken, TimeoutError, OSError) as error:
            log.warning(
                "admins.lookup_failed", extra={"workspace_id": workspace_id, "error": type(error).__name__}
            )
            return set()
        self._cache[workspace_id] = (self._monotonic() + CACHE_SECONDS, admins)
        return admins

    async def _lookup(self, workspace_id: int) -> set[str]:
        async with self._database.read() as session:
            team_id = (await session.get_one(Workspace, workspace_id)).team_id
        client: AsyncWebClient = await self._clients.for_team(team_id)
        admins: set[str] = set()
        cursor = ""
        while True:
            page = await client.users_list(limit=200, cursor=cursor or None)
            for member in page.get("members") or []:
                if (member.get("is_admin") or member.get("is_owner")) and not member.get("deleted"):
                    admins.add(str(member["id"]))
            cursor = str((page.get("response_metadata") or {}).get("next_cursor") or "")
            if not cursor:
                return admins

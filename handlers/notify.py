"""Posts rendered messages to a Slack user or channel from outside a request (web pages, jobs)."""

from __future__ import annotations

import logging
from collections.abc import Callable

from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.oauth.installation_store.async_installation_store import AsyncInstallationStore
from slack_sdk.web.async_client import AsyncWebClient

from bot.render import Message

log = logging.getLogger(__name__)


class SlackNotifier:
    """Finds the workspace's bot token (the single token, or the installation store) and posts."""

    def __init__(
        self,
        make_client: Callable[[str], AsyncWebClient],
        *,
        single_token: str | None,
        store: AsyncInstallationStore | None,
    ) -> None:
        self._make_client = make_client
        self._single_token = single_token
        self._store = store

    async def _token(self, team_id: str) -> str | None:
        if self._store is None:
            return self._single_token
        bot = await self._store.async_find_bot(enterprise_id=None, team_id=team_id)
        return None if bot is None else bot.bot_token

    async def post(self, team_id: str, channel: str, message: Message) -> str | None:
        """Post to a channel (or to a user id: the app's DM with them); the message ts, or None on failure."""
        token = await self._token(team_id)
        if not token:
            log.warning("slack.no_token", extra={"team_id": team_id})
            return None
        client = self._make_client(token)
        try:
            response = await client.chat_postMessage(channel=channel, **message.as_kwargs())
        except (SlackApiError, SlackClientError, OSError, TimeoutError) as error:
            log.warning("slack.post_failed", extra={"team_id": team_id, "error": type(error).__name__})
            return None
        ts = response.get("ts")
        return str(ts) if ts else None

    async def post_to_user(self, team_id: str, user_id: str, message: Message) -> str | None:
        return await self.post(team_id, user_id, message)

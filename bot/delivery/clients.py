"""A Web API client per workspace, built from its stored installation, its bot token kept fresh.

Bolt refreshes a rotated token only while it authorizes an incoming request; a job runs outside
any request, so it rotates the token itself (slack_sdk's AsyncTokenRotator) and saves the new one.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

import aiohttp
from slack_sdk.errors import SlackTokenRotationError
from slack_sdk.oauth.installation_store.async_installation_store import AsyncInstallationStore
from slack_sdk.oauth.token_rotation.async_rotator import AsyncTokenRotator
from slack_sdk.web.async_client import AsyncWebClient

log = logging.getLogger(__name__)

# Bolt's own default: refresh when less than two hours remain.
ROTATE_MINUTES_BEFORE = 120


class NoToken(Exception):
    """The workspace has no usable bot token (uninstalled, revoked, or rotation refused)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class RotationApp:
    """The app's OAuth credentials, which a token rotation needs."""

    client_id: str
    client_secret: str


MakeClient = Callable[[str | None, aiohttp.ClientSession | None], AsyncWebClient]


class WorkspaceClients:
    """Hands out an AsyncWebClient for a team: the single SLACK_BOT_TOKEN, or the stored install.

    Every client shares one HTTP session (its connection pool): a session per call would open a
    new TCP and TLS connection for every message.
    """

    def __init__(
        self,
        make_client: MakeClient,
        *,
        single_token: str | None,
        store: AsyncInstallationStore | None,
        app: RotationApp | None = None,
    ) -> None:
        self._make_client = make_client
        self._single_token = single_token
        self._store = store
        self._app = app
        self._session: aiohttp.ClientSession | None = None
        self._rotator: AsyncTokenRotator | None = None

    def _shared_session(self) -> aiohttp.ClientSession:
        # Made on first use, inside the running event loop (aiohttp requires one).
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession()
            if self._app is not None:
                self._rotator = AsyncTokenRotator(
                    client_id=self._app.client_id,
                    client_secret=self._app.client_secret,
                    client=self._make_client(None, self._session),
                )
        return self._session

    async def for_team(self, team_id: str) -> AsyncWebClient:
        """A client with a bot token valid for the next two hours; NoToken when there is none."""
        session = self._shared_session()
        return self._make_client(await self._token(team_id), session)

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def _token(self, team_id: str) -> str:
        if self._store is None:
            if not self._single_token:
                raise NoToken("no_token")
            return self._single_token
        bot = await self._store.async_find_bot(enterprise_id=None, team_id=team_id)
        if bot is None or not bot.bot_token:
            raise NoToken("not_installed")
        if self._rotator is None or not bot.bot_refresh_token:
            return bot.bot_token
        try:
            rotated = await self._rotator.perform_bot_token_rotation(
                bot=bot, minutes_before_expiration=ROTATE_MINUTES_BEFORE
            )
        except SlackTokenRotationError as error:
            log.warning("delivery.rotation_failed", extra={"team_id": team_id})
            raise NoToken("token_revoked") from error
        if rotated is None:
            return bot.bot_token
        await self._store.async_save_bot(rotated)
        log.info("delivery.token_rotated", extra={"team_id": team_id})
        return rotated.bot_token or ""

"""The App Home tab: `app_home_opened` publishes the member's view; its buttons answer in a modal."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.clock import Clock
from bot.domain import Actor
from bot.errors import StorageUnavailable, UserError
from bot.features.home.content import HomeService
from bot.features.sync.requests import SyncAsk, SyncRequests
from bot.features.workspaces import WorkspaceService
from bot.providers import registry
from bot.render import Renderer
from handlers.alert_buttons import retry_text
from handlers.cashbot import CashbotRouter
from handlers.listeners import Listeners
from handlers.slash import CommandRequest, Reply
from handlers.views import action_actor, action_value

log = logging.getLogger(__name__)

HOME_CHANNEL = ""  # a Home tab click has no channel


class HomeTab:
    """Thin: gather the content, render it, views.publish; buttons run the matching subcommand."""

    def __init__(
        self,
        *,
        home: HomeService,
        workspaces: WorkspaceService,
        router: CashbotRouter,
        requests: SyncRequests,
        renderer: Renderer,
        clock: Clock,
    ) -> None:
        self._home = home
        self._workspaces = workspaces
        self._router = router
        self._requests = requests
        self._renderer = renderer
        self._clock = clock

    def register(self, on: Listeners) -> None:
        on.event("app_home_opened", self.opened)
        on.action("home_connect", self.connect)
        on.action("home_sync_now", self.sync_now)
        on.action("home_digest_preview", self.preview)

    async def opened(self, event: dict[str, Any], context: dict[str, Any], client: AsyncWebClient) -> None:
        if event.get("tab", "home") != "home":
            return  # the Messages tab
        actor: Actor = context.get("actor") or Actor(
            str(context.get("team_id") or ""), str(event.get("user"))
        )
        await self.publish(actor, client)

    async def publish(self, actor: Actor, client: AsyncWebClient) -> None:
        workspace_id = await self._workspaces.workspace_id(actor.team_id)
        content = await self._home.content(actor, workspace_id)
        view = self._renderer.view("home.json.j2", h=content, now=self._clock.now(), loc=actor.locale)
        await client.views_publish(user_id=actor.user_id, view=view)

    async def connect(
        self, ack: Any, body: dict[str, Any], context: dict[str, Any], client: AsyncWebClient
    ) -> None:
        await ack()
        provider = action_value(body) if action_value(body) in registry.identifiers() else ""
        await self._answer(
            body, context, client, "Connect", lambda actor: self._run(actor, f"connect {provider}")
        )

    async def preview(
        self, ack: Any, body: dict[str, Any], context: dict[str, Any], client: AsyncWebClient
    ) -> None:
        await ack()
        await self._answer(
            body, context, client, "Digest preview", lambda actor: self._run(actor, "digest preview")
        )

    async def sync_now(
        self, ack: Any, body: dict[str, Any], context: dict[str, Any], client: AsyncWebClient
    ) -> None:
        await ack()
        await self._answer(body, context, client, "Sync now", self._sync)

    async def _run(self, actor: Actor, text: str) -> Reply:
        """Exactly the subcommand, with its own access checks."""
        request = CommandRequest(actor.team_id, actor.user_id, HOME_CHANNEL, "/cashbot", text)
        return await self._router.run(request, actor)

    async def _sync(self, actor: Actor) -> Reply:
        workspace_id = await self._workspaces.workspace_id(actor.team_id)
        content = await self._home.content(actor, workspace_id)
        if not content.can_view:
            raise UserError("Only members with access to cashbot's financial data can sync.")
        result = await self._requests.request(SyncAsk(workspace_id, actor.user_id, HOME_CHANNEL, None))
        return Reply(
            self._renderer.message("alert_answer.json.j2", message=retry_text(result, "the Home tab"))
        )

    async def _answer(
        self,
        body: dict[str, Any],
        context: dict[str, Any],
        client: AsyncWebClient,
        title: str,
        produce: Callable[[Actor], Awaitable[Reply]],
    ) -> None:
        """Run the button's work and show its answer in a modal; failures become a short message."""
        actor = action_actor(body, context)
        try:
            reply = await produce(actor)
        except UserError as error:
            reply = Reply(self._renderer.message("user_error.json.j2", message=str(error)))
        except StorageUnavailable:
            reply = Reply(self._renderer.message("unavailable.json.j2"))
        view = self._renderer.view("home_answer.json.j2", title=title, blocks=reply.message.blocks)
        try:
            await client.views_open(trigger_id=str(body.get("trigger_id") or ""), view=view)
        except SlackApiError as error:  # an expired trigger (over 3 s): nothing else to do
            log.warning("home.answer_unsent", extra={"error": error.response.get("error")})

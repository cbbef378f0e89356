"""An alert's buttons: Reconnect (a fresh one-time consent link) and Retry now (a sync, answered at once)."""

from __future__ import annotations

from typing import Any

from bot.domain import Actor, ConnectionState, Provider
from bot.errors import UserError
from bot.features.access.rights import AccessService
from bot.features.incidents import records
from bot.features.incidents.records import IncidentFacts
from bot.features.sync.requests import Enqueued, SyncAsk, SyncRequests
from bot.features.workspaces import WorkspaceService
from bot.providers.connections import ConnectionService
from bot.render import Renderer
from handlers.alert_words import TITLES
from handlers.cashbot import CashbotRouter
from handlers.listeners import Listeners
from handlers.slash import CommandRequest, Reply
from handlers.views import Respond, action_actor, action_value, answer_action, channel_of
from storage.database import Database


class AlertButtons:
    """Thin: find the incident, check it still stands, hand over to connect or to Sync now."""

    def __init__(
        self,
        *,
        database: Database,
        workspaces: WorkspaceService,
        access: AccessService,
        connections: ConnectionService,
        requests: SyncRequests,
        router: CashbotRouter,
        renderer: Renderer,
    ) -> None:
        self._database = database
        self._workspaces = workspaces
        self._access = access
        self._connections = connections
        self._requests = requests
        self._router = router
        self._renderer = renderer

    def register(self, on: Listeners) -> None:
        on.action("alert_reconnect", self.reconnect)
        on.action("alert_retry", self.retry)

    async def reconnect(
        self, ack: Any, body: dict[str, Any], context: dict[str, Any], respond: Respond
    ) -> None:
        await ack()
        actor = action_actor(body, context)
        await answer_action(respond, self._renderer, "alert_reconnect", lambda: self._reconnect(actor, body))

    async def retry(self, ack: Any, body: dict[str, Any], context: dict[str, Any], respond: Respond) -> None:
        await ack()
        actor = action_actor(body, context)
        await answer_action(respond, self._renderer, "alert_retry", lambda: self._retry(actor, body))

    async def _reconnect(self, actor: Actor, body: dict[str, Any]) -> Reply:
        incident = await self._standing(actor, body)
        title = TITLES.get(incident.provider, incident.provider)
        connection = await self._connections.find(incident.workspace_id, Provider(incident.provider))
        if connection is None or connection.state == ConnectionState.DISCONNECTED:
            raise UserError(
                f"{title} was disconnected after this alert was posted, so there is nothing to reconnect. "
                f"To connect it again: `/cashbot connect {incident.provider}`."
            )
        # Exactly `/cashbot connect <provider>`: the same permission check and one-time link.
        request = CommandRequest(
            team_id=actor.team_id,
            user_id=actor.user_id,
            channel_id=channel_of(body),
            command="/cashbot",
            text=f"connect {incident.provider}",
        )
        return await self._router.run(request, actor)

    async def _retry(self, actor: Actor, body: dict[str, Any]) -> Reply:
        incident = await self._standing(actor, body)
        if not await self._access.can_view(actor, incident.workspace_id):
            raise UserError("Only members with access to cashbot's financial data can retry a sync.")
        if incident.kind in ("reauth", "consent"):
            title = TITLES.get(incident.provider, incident.provider)
            raise UserError(f"A sync cannot fix this: {title} must be reconnected (the *Reconnect* button).")
        # No response_url: the result shows in the alert itself (updated, or a recovery in its thread).
        ask = SyncAsk(incident.workspace_id, actor.user_id, channel_of(body), None, actor.locale)
        return self._answer(retry_text(await self._requests.request(ask), "this alert"))

    async def _standing(self, actor: Actor, body: dict[str, Any]) -> IncidentFacts:
        """The clicked alert's incident, if it is this workspace's and not resolved yet."""
        workspace_id = await self._workspaces.workspace_id(actor.team_id)
        value = action_value(body)
        # An id is a database integer: other text (or "²", or past int32) names no alert.
        known = value.isascii() and value.isdigit() and int(value) < 2**31
        incident = await records.get(self._database, int(value)) if known else None
        if incident is None or incident.workspace_id != workspace_id:
            raise UserError("This alert no longer exists.")
        if incident.resolved_at is not None:
            title = TITLES.get(incident.provider, incident.provider)
            raise UserError(f"This alert is resolved already ({title} works again); nothing was changed.")
        return incident

    def _answer(self, text: str) -> Reply:
        return Reply(self._renderer.message("alert_answer.json.j2", message=text))


def retry_text(result: Enqueued, where: str) -> str:
    """The answer to a sync click; the result shows in `where` (this alert, the Home tab)."""
    if result.accepted:
        return f"Retrying now. The result shows in {where} when the sync is done."
    if result.reason == "cooldown" and result.retry_in is not None:
        minutes = max(1, round(result.retry_in.total_seconds() / 60))
        return f"A sync ran moments ago; try again in {minutes} min."
    if result.reason == "pending":
        return f"A sync is already on its way; {where} shows its result."
    return "Nothing to sync: the connection is gone or today's call budget is spent. See `/cashbot status`."

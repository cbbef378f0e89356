"""/cashbot sync confirm <provider>: a workspace admin lets one held mass close through."""

from __future__ import annotations

from collections.abc import Sequence

from bot.domain import Actor, AuditOutcome
from bot.errors import UserError
from bot.features.audit.trail import AuditTrail
from bot.features.sync.requests import SyncAsk, SyncRequests
from bot.features.workspaces import WorkspaceService
from bot.providers import registry
from bot.providers.base import ProviderPlugin
from bot.providers.connections import ConnectionService
from bot.providers.mass_close import CONFIRMED
from bot.render import Renderer
from handlers.catalog import CommandSpec
from handlers.listeners import Listeners
from handlers.slash import CommandRequest, Reply


class SyncConfirmCommand:
    """Marks the connection so its next sync applies what the mass close guard held, once."""

    def __init__(
        self,
        *,
        plugins: Sequence[ProviderPlugin],
        connections: ConnectionService,
        requests: SyncRequests,
        audit: AuditTrail,
        workspaces: WorkspaceService,
        renderer: Renderer,
    ) -> None:
        self._plugin_list = plugins
        self._connections = connections
        self._requests = requests
        self._audit = audit
        self._workspaces = workspaces
        self._renderer = renderer

    def register(self, on: Listeners) -> None:
        names = "|".join(registry.identifiers())
        spec = CommandSpec(f"/cashbot sync confirm {names}", "Apply a sync held for closing most open items")
        on.subcommand("sync", spec, self.confirm)

    async def confirm(self, request: CommandRequest, actor: Actor) -> Reply:
        plugin = self._plugin(request.args[1:])
        action = f"sync.confirm.{plugin.provider.value}"
        if not actor.is_admin:  # closing most of the books at once is an admin's call
            await self._audit.record(
                team_id=request.team_id, actor=request.user_id, action=action, outcome=AuditOutcome.DENIED
            )
            raise UserError("Only a workspace admin can confirm a held sync.")
        workspace_id = await self._workspaces.workspace_id(request.team_id)
        view = await self._connections.find(workspace_id, plugin.provider)
        if view is None:
            raise UserError(f"{plugin.title} is not connected.")
        await self._connections.update_settings(view.id, settings={**(view.settings or {}), CONFIRMED: True})
        ask = SyncAsk(workspace_id, request.user_id, request.channel_id, request.response_url)
        enqueued = await self._requests.request(ask)
        await self._audit.record(
            team_id=request.team_id,
            actor=request.user_id,
            action=action,
            channel_id=request.channel_id,
            detail={"enqueued": enqueued.accepted},
        )
        text = (
            f"Confirmed: the next {plugin.title} sync applies what it finds, even if it closes most "
            "open items" + (" — it starts now." if enqueued.accepted else " (at the next hourly sync).")
        )
        return Reply(self._renderer.message("alert_answer.json.j2", message=text))

    def _plugin(self, words: list[str]) -> ProviderPlugin:
        plugins = {plugin.provider.value: plugin for plugin in self._plugin_list}
        if len(words) == 2 and words[0].lower() == "confirm" and words[1].lower() in plugins:
            return plugins[words[1].lower()]
        choices = " or ".join(f"`/cashbot sync confirm {name}`" for name in plugins)
        raise UserError(f"Use {choices}.")

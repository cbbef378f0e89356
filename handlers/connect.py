"""/cashbot connect|disconnect <provider> and /cashbot status: shared by every provider plugin."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from typing import Any

from bot.clock import Clock
from bot.domain import Actor, AuditOutcome, Provider
from bot.errors import UserError
from bot.features.access.rights import AccessService
from bot.features.audit.trail import AuditTrail
from bot.features.connect.links import ConnectLinks
from bot.features.workspaces import WorkspaceService
from bot.providers import registry
from bot.providers.base import ProviderPlugin
from bot.providers.connections import ConnectionService
from bot.render import Renderer
from handlers.cashbot import StatusLines
from handlers.catalog import CommandSpec
from handlers.listeners import Listeners
from handlers.slash import CommandRequest, Reply

LinkUrl = Callable[[Provider, str], str]


class ConnectCommands:
    """The connection-management subcommands of /cashbot."""

    def __init__(
        self,
        *,
        plugins: Sequence[ProviderPlugin],
        links: ConnectLinks,
        connections: ConnectionService,
        access: AccessService,
        audit: AuditTrail,
        workspaces: WorkspaceService,
        renderer: Renderer,
        link_url: LinkUrl,
        next_sync: Callable[[dt.datetime | None], dt.datetime | None],
        clock: Clock,
    ) -> None:
        self._clock = clock
        self._plugin_list = plugins  # read at use, so providers may register after this is built
        self._links = links
        self._connections = connections
        self._access = access
        self._audit = audit
        self._workspaces = workspaces
        self._renderer = renderer
        self._link_url = link_url
        self._next_sync = next_sync
        self._sections: list[tuple[str, StatusLines]] = []

    @property
    def _plugins(self) -> dict[str, ProviderPlugin]:
        return {plugin.provider.value: plugin for plugin in self._plugin_list}

    def register(self, on: Listeners) -> None:
        self._sections = on.router.status_sections  # read at use: features add theirs in any order
        names = "|".join(registry.identifiers())
        on.subcommand(
            "connect",
            CommandSpec(f"/cashbot connect {names}", "Get a one-time link to connect a provider"),
            self.connect,
        )
        on.subcommand(
            "disconnect",
            CommandSpec(f"/cashbot disconnect {names}", "Revoke and delete a provider's credentials"),
            self.disconnect,
        )
        on.subcommand(
            "status",
            CommandSpec("/cashbot status", "Connections, last syncs, errors, expiry, calls left"),
            self.status,
        )

    def _plugin(self, request: CommandRequest, verb: str) -> ProviderPlugin:
        words = request.args[1:]
        plugin = self._plugins.get(words[0].lower()) if words else None
        if plugin is None:
            choices = " or ".join(f"`/cashbot {verb} {name}`" for name in self._plugins)
            raise UserError(f"Which one? Use {choices}.")
        return plugin

    async def _manager_or_refusal(self, request: CommandRequest, actor: Actor, action: str) -> Reply | None:
        workspace_id = await self._workspaces.workspace_id(request.team_id)
        if await self._access.can_manage(actor, workspace_id):
            return None
        await self._audit.record(
            team_id=request.team_id,
            actor=request.user_id,
            action=action,
            outcome=AuditOutcome.DENIED,
            channel_id=request.channel_id,
        )
        managers = sorted(await self._access.managers(workspace_id))
        return Reply(self._renderer.message("connect_refused.json.j2", managers=managers))

    async def connect(self, request: CommandRequest, actor: Actor) -> Reply:
        plugin = self._plugin(request, "connect")
        refusal = await self._manager_or_refusal(request, actor, f"connect.{plugin.provider.value}")
        if refusal is not None:
            return refusal
        problem = plugin.configuration_problem()
        if problem is not None:
            return Reply(
                self._renderer.message("connect_unconfigured.json.j2", title=plugin.title, problem=problem)
            )
        workspace_id = await self._workspaces.workspace_id(request.team_id)
        token = await self._links.issue(workspace_id, request.user_id, plugin.provider)
        await self._audit.record(
            team_id=request.team_id,
            actor=request.user_id,
            action=f"connect.{plugin.provider.value}.link_issued",
            channel_id=request.channel_id,
        )
        return Reply(
            self._renderer.message(
                "connect_link.json.j2", title=plugin.title, url=self._link_url(plugin.provider, token)
            )
        )

    async def disconnect(self, request: CommandRequest, actor: Actor) -> Reply:
        plugin = self._plugin(request, "disconnect")
        refusal = await self._manager_or_refusal(request, actor, f"disconnect.{plugin.provider.value}")
        if refusal is not None:
            return refusal
        workspace_id = await self._workspaces.workspace_id(request.team_id)
        result = await plugin.disconnect(workspace_id)
        await self._audit.record(
            team_id=request.team_id,
            actor=request.user_id,
            action=f"disconnect.{plugin.provider.value}",
            channel_id=request.channel_id,
            detail={
                "had_connection": result.had_connection,
                "revoked_at_provider": result.revoked_at_provider,
            },
        )
        return Reply(self._renderer.message("disconnect_done.json.j2", title=plugin.title, result=result))

    async def status(self, request: CommandRequest, actor: Actor) -> Reply:
        workspace_id = await self._workspaces.workspace_id(request.team_id)
        rows: list[dict[str, Any]] = []
        for plugin in self._plugins.values():
            view = await self._connections.find(workspace_id, plugin.provider)
            facts = await plugin.status_facts(view) if view is not None else []
            next_sync = (
                self._next_sync(view.last_attempt_at)
                if view is not None and view.state.value != "disconnected"
                else None
            )
            rows.append({"title": plugin.title, "view": view, "facts": facts, "next_sync": next_sync})
        sections = [(title, await lines(workspace_id)) for title, lines in self._sections]
        return Reply(
            self._renderer.message("status.json.j2", rows=rows, sections=sections, now=self._clock.now())
        )

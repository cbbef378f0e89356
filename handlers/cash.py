"""/cash: the cash position, for members allowed to see it; ephemeral unless `public` where allowed."""

from __future__ import annotations

import re
from typing import Any

from slack_bolt.response import BoltResponse

from bot.domain import Actor
from bot.errors import UserError
from bot.features.access.gate import ViewGate
from bot.features.cash.position import CashService
from bot.features.workspaces import WorkspaceService
from bot.providers import registry
from bot.render import Renderer
from handlers.cashbot import CashbotRouter
from handlers.catalog import CommandSpec
from handlers.listeners import Listeners
from handlers.slash import Ack, CommandRequest, Reply, answer
from handlers.views import FinancialViews, Respond, action_actor, action_value, answer_action, channel_of

USAGE = "Usage: `/cash` (only you see the answer) or `/cash public` (in a channel where that is allowed)."
PURPOSE = "cash"  # the sentence is in templates/cash_connect.json.j2


def wants_public(text: str) -> bool:
    """`/cash` or `/cash public`; anything else is answered with the usage."""
    words = [word.casefold() for word in text.split()]
    if words not in ([], ["public"]):
        raise UserError(USAGE)
    return bool(words)


class CashCommand:
    """Answers /cash from the report cache; never calls a provider."""

    def __init__(
        self, *, workspaces: WorkspaceService, gate: ViewGate, cash: CashService, views: FinancialViews
    ) -> None:
        self._workspaces = workspaces
        self._gate = gate
        self._cash = cash
        self._views = views

    def register(self, on: Listeners) -> None:
        spec = CommandSpec("/cash [public]", "Cash position across every bank account", financial=True)
        on.command("/cash", self.handle, spec)

    async def handle(self, ack: Ack, body: dict[str, Any], context: dict[str, Any]) -> BoltResponse:
        request = CommandRequest.from_payload(body)
        actor = context.get("actor") or Actor(request.team_id, request.user_id)
        workspace_id = context.get("workspace_id")
        return await answer(self._views.renderer, "/cash", lambda: self.reply(request, actor, workspace_id))

    async def reply(self, request: CommandRequest, actor: Actor, workspace_id: int | None) -> Reply:
        public = wants_public(request.text)
        workspace_id = workspace_id or await self._workspaces.workspace_id(request.team_id)
        admission = await self._gate.admit(
            actor, workspace_id, request.channel_id, "/cash", wants_public=public
        )
        if not admission.allowed:
            return self._views.refusal(admission)
        position = await self._cash.position(workspace_id)
        if not position.bank.connected:
            needed = [s for s in position.sources if not s.connected]
            return self._views.connect_prompt(admission, needed, PURPOSE)
        await self._gate.viewed(
            admission,
            {"accounts": len(position.accounts), "currencies": [t.currency for t in position.totals]},
        )
        message = self._views.cash(
            position, actor.locale, workspace_id=workspace_id, public_refused=admission.public_refused
        )
        return self._views.reply(message, admission)


class ConnectButtons:
    """The "Connect Ponto/Yuki" buttons of a connect prompt: exactly `/cashbot connect <provider>`."""

    def __init__(self, router: CashbotRouter, renderer: Renderer) -> None:
        self._router = router
        self._renderer = renderer

    def register(self, on: Listeners) -> None:
        names = "|".join(map(re.escape, registry.identifiers()))
        on.action(re.compile(f"^cashbot_connect_({names})$"), self.clicked)

    async def clicked(
        self, ack: Ack, body: dict[str, Any], context: dict[str, Any], respond: Respond
    ) -> None:
        await ack()
        provider = action_value(body) if action_value(body) in registry.identifiers() else ""
        actor = action_actor(body, context)
        request = CommandRequest(
            team_id=actor.team_id,
            user_id=actor.user_id,
            channel_id=channel_of(body),
            command="/cashbot",
            text=f"connect {provider}",
        )
        await answer_action(
            respond, self._renderer, "connect_button", lambda: self._router.run(request, actor)
        )

"""/cashbot: routes subcommands; `help` lists every command from the catalog."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from slack_bolt.response import BoltResponse

from bot.domain import Actor
from bot.errors import UserError
from bot.render import Renderer
from handlers.catalog import CommandCatalog, CommandSpec
from handlers.slash import Ack, CommandRequest, Reply, answer

if TYPE_CHECKING:
    from handlers.listeners import Listeners

Subcommand = Callable[[CommandRequest, Actor], Awaitable[Reply]]
StatusLines = Callable[[int], Awaitable[list[str]]]


class CashbotRouter:
    """Maps the first word after /cashbot to a subcommand; anything else gets the usage."""

    def __init__(self, catalog: CommandCatalog, renderer: Renderer) -> None:
        self._catalog = catalog
        self._renderer = renderer
        self._handlers: dict[str, Subcommand] = {}
        # Other features' lines in /cashbot status, by title (the digest's schedule and runs).
        self.status_sections: list[tuple[str, StatusLines]] = []
        self.add("help", CommandSpec("/cashbot help", "Show these commands"), self._help)

    def add(self, word: str, spec: CommandSpec, handler: Subcommand) -> None:
        self._catalog.add(spec)
        self._handlers[word] = handler

    async def handle(self, ack: Ack, body: dict[str, Any], context: dict[str, Any]) -> BoltResponse:
        request = CommandRequest.from_payload(body)
        actor = context.get("actor") or Actor(request.team_id, request.user_id)
        return await answer(self._renderer, "/cashbot", lambda: self._dispatch(request, actor))

    async def run(self, request: CommandRequest, actor: Actor) -> Reply:
        """Dispatch a /cashbot request built elsewhere (a button that stands for a subcommand)."""
        return await self._dispatch(request, actor)

    async def _dispatch(self, request: CommandRequest, actor: Actor) -> Reply:
        word = request.args[0].lower() if request.args else "help"
        handler = self._handlers.get(word)
        if handler is None:
            raise UserError(self.usage(f"I don't know /cashbot {word[:40]}."))
        return await handler(request, actor)

    def usage(self, lead: str) -> str:
        lines = "\n".join(f"• `{usage}`" for usage in self._catalog.usage_lines("/cashbot"))
        return f"{lead}\nUsage:\n{lines}"

    async def _help(self, request: CommandRequest, actor: Actor) -> Reply:
        return Reply(self._renderer.message("help.json.j2", commands=self._catalog.specs))


def register(on: Listeners) -> None:
    """The /cashbot command itself (its subcommands add themselves to the router)."""
    on.command("/cashbot", on.router.handle)

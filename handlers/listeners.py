"""The one way a handler adds itself: Slack listeners, help entries, /cashbot subcommands, status lines."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from slack_bolt.async_app import AsyncApp

from handlers.cashbot import CashbotRouter, StatusLines, Subcommand
from handlers.catalog import CommandCatalog, CommandSpec

Listener = Callable[..., Awaitable[Any]]


@dataclass(frozen=True)
class Listeners:
    """What every handler's `register(on)` is given.

    Bolt tries listeners in the order they were added. Without Bolt (the worker, the CLI) the
    Slack listeners are not added; subcommands and status sections still are.
    """

    app: AsyncApp | None
    catalog: CommandCatalog
    router: CashbotRouter

    def command(self, name: str, listener: Listener, spec: CommandSpec | None = None) -> None:
        """A slash command, listed in help when it has a `spec`."""
        if spec is not None:
            self.catalog.add(spec)
        if self.app is not None:
            self.app.command(name)(listener)

    def action(self, action_id: str | re.Pattern[str], listener: Listener) -> None:
        if self.app is not None:
            self.app.action(action_id)(listener)

    def event(self, name: str, listener: Listener) -> None:
        if self.app is not None:
            self.app.event(name)(listener)

    def middleware(self, listener: Listener) -> None:
        if self.app is not None:
            self.app.middleware(listener)

    def error(self, listener: Listener) -> None:
        if self.app is not None:
            self.app.error(listener)

    def subcommand(self, word: str, spec: CommandSpec, handler: Subcommand) -> None:
        """A `/cashbot <word>` subcommand."""
        self.router.add(word, spec, handler)

    def status(self, title: str, lines: StatusLines) -> None:
        """A section of `/cashbot status`, after the providers'."""
        self.router.status_sections.append((title, lines))

"""What every demo step is handed: the bot, Slack as seen from outside, the output folder."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from bot.app.runtime import Runtime
from bot.sandbox.blocks_text import blocks_to_text
from bot.sandbox.slack import SlackSimulator
from bot.sandbox.slack_requests import SlackRequests


@dataclass
class DemoContext:
    """What each demo step can use: the bot, Slack as seen from outside, the output folder."""

    runtime: Runtime
    bot_url: str
    slack: SlackRequests
    sim: SlackSimulator
    output: Path
    browser: httpx.AsyncClient
    simulators: dict[str, Any] = field(default_factory=dict)
    shown: int = 0

    async def command(self, command: str, text: str = "", **kwargs: Any) -> dict[str, Any]:
        """Type a slash command, print the answer, save its Block Kit; returns the payload."""
        response = await self.slack.command(command, text, **kwargs)
        payload = (
            response.json()
            if response.headers.get("content-type", "").startswith("application/json")
            else {"text": response.text}
        )
        self.show(f"{command} {text}".strip(), payload)
        return payload

    def show(self, title: str, payload: dict[str, Any]) -> None:
        self.shown += 1
        name = f"{self.shown:02d}-{re.sub(r'[^a-z0-9]+', '-', title.lower()).strip('-')}.json"
        (self.output / name).write_text(
            json.dumps(payload, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
        )
        print(f"\n> {title}\n")
        print(_indent(blocks_to_text(payload)))


def _indent(text: str) -> str:
    return "\n".join("    " + line for line in text.splitlines())

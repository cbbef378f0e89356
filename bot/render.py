"""Block Kit from templates/*.json.j2: one Jinja environment, values through tojson, limits checked."""

from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import dataclass, field
from importlib import resources
from importlib.abc import Traversable
from pathlib import Path
from typing import Any

import jinja2

from bot import formatting as fmt
from bot.errors import CashbotError

MAX_MESSAGE_BLOCKS = 50
MAX_VIEW_BLOCKS = 100
MAX_TEXT = 3000
MAX_FIELDS = 10
MAX_HEADER = 150
MAX_FALLBACK_TEXT = 4000


class RenderError(CashbotError):
    """A template produced something Slack would refuse (a bug in cashbot, never user input)."""


def template_root() -> Traversable:
    """templates/ in a source checkout, or bot/templates inside an installed wheel."""
    packaged = resources.files("bot") / "templates"
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parent.parent / "templates"


def mrkdwn_escape(value: Any) -> str:
    """Escape text for Slack mrkdwn: &, < and > are control characters (mentions, links)."""
    return str(value).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def ago(moment: dt.datetime | None, now: dt.datetime) -> str:
    """ "just now", "5 min ago", "3 h ago", "2 days ago" (or "in 10 min" for the future)."""
    if moment is None:
        return "never"
    seconds = (now - moment).total_seconds()
    future, seconds = seconds < 0, abs(seconds)
    if seconds < 60:
        return "just now" if not future else "in a moment"
    for unit, size in (("day", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            count = int(seconds // size)
            label = f"{count} {unit}" + ("s" if unit == "day" and count != 1 else "")
            return f"in {label}" if future else f"{label} ago"
    return "just now"  # pragma: no cover


_SLACK_ID = re.compile(r"^[UW][A-Z0-9]{2,20}$")


def mention(user_id: str) -> str:
    """A Slack mention for a user id; anything that is not an id is escaped text instead."""
    return f"<@{user_id}>" if _SLACK_ID.match(user_id or "") else mrkdwn_escape(user_id)


_CHANNEL_ID = re.compile(r"^[CG][A-Z0-9]{2,20}$")


def channel(channel_id: str) -> str:
    """A Slack channel link for a channel id; anything that is not an id is escaped text instead."""
    return f"<#{channel_id}>" if _CHANNEL_ID.match(channel_id or "") else mrkdwn_escape(channel_id)


def utc_stamp(moment: dt.datetime | None) -> str:
    return "—" if moment is None else moment.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


def _tojson(value: Any) -> str:
    # Not Jinja's own tojson: that one escapes for HTML, which Slack would show literally.
    return json.dumps(value, ensure_ascii=False)


class _TraversableLoader(jinja2.BaseLoader):
    """Loads templates from a Traversable, so the same code works from a wheel or a checkout."""

    def __init__(self, root: Traversable) -> None:
        self.root = root

    def get_source(self, environment: jinja2.Environment, template: str) -> tuple[str, str | None, Any]:
        node = self.root.joinpath(template)
        if not node.is_file():
            raise jinja2.TemplateNotFound(template)
        return node.read_text(encoding="utf-8"), None, lambda: True


@dataclass(frozen=True)
class Message:
    """A rendered Slack message: fallback text plus blocks."""

    text: str
    blocks: list[dict[str, Any]]
    # Serialised answers, by response_type: a cached message is answered many times.
    _json: dict[str, str] = field(default_factory=dict, compare=False, repr=False)

    def as_kwargs(self) -> dict[str, Any]:
        return {"text": self.text, "blocks": self.blocks}

    def as_response_json(self, response_type: str) -> str:
        """The whole answer to a slash command as JSON (computed once per response type)."""
        body = self._json.get(response_type)
        if body is None:
            payload = {"response_type": response_type, **self.as_kwargs()}
            body = self._json[response_type] = json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
        return body


class Renderer:
    """Renders JSON templates into Slack payloads and checks Slack's limits."""

    def __init__(self, root: Traversable | None = None) -> None:
        self.env = jinja2.Environment(
            loader=_TraversableLoader(root or template_root()),
            autoescape=False,  # noqa: S701 - JSON output; every value goes through tojson
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.env.filters["tojson"] = _tojson
        self.env.filters["mrkdwn"] = mrkdwn_escape
        self.env.filters["ago"] = ago
        self.env.filters["format_mention"] = mention
        self.env.filters["format_channel"] = channel
        self.env.filters["prefix_newline"] = lambda text: "\n" + str(text)
        self.env.filters["utc"] = utc_stamp
        self.env.filters["money"] = fmt.money
        self.env.filters["signed_money"] = fmt.signed_money
        self.env.filters["day"] = fmt.day

    def render_json(self, name: str, **context: Any) -> dict[str, Any]:
        raw = self.env.get_template(name).render(**context)
        try:
            payload = json.loads(raw)
        except json.JSONDecodeError as error:
            raise RenderError(f"{name} did not render valid JSON: {error}") from None
        if not isinstance(payload, dict):
            raise RenderError(f"{name} must render a JSON object")
        return payload

    def message(self, name: str, **context: Any) -> Message:
        """A chat message from a template; it must carry a fallback `text`."""
        payload = self.render_json(name, **context)
        text = payload.get("text")
        if not isinstance(text, str) or not text.strip():
            raise RenderError(f"{name} has no fallback text")
        blocks = fit_blocks(payload.get("blocks", []), MAX_MESSAGE_BLOCKS)
        check_blocks(blocks, MAX_MESSAGE_BLOCKS, name)
        return Message(text=text[:MAX_FALLBACK_TEXT], blocks=blocks)

    def view(self, name: str, **context: Any) -> dict[str, Any]:
        """A Home tab or modal view from a template."""
        payload = self.render_json(name, **context)
        payload["blocks"] = fit_blocks(payload.get("blocks", []), MAX_VIEW_BLOCKS)
        check_blocks(payload["blocks"], MAX_VIEW_BLOCKS, name)
        return payload

    def html(self, name: str, **context: Any) -> str:
        """A web page (the Yuki form, result pages), autoescaped as HTML."""
        environment = self.env.overlay(autoescape=True)
        return environment.get_template(name).render(**context)


def check_blocks(blocks: Any, max_blocks: int, name: str) -> None:
    """Raise RenderError where Slack would answer invalid_blocks."""
    if not isinstance(blocks, list):
        raise RenderError(f"{name}: blocks must be a list")
    if len(blocks) > max_blocks:
        raise RenderError(f"{name}: {len(blocks)} blocks, Slack allows {max_blocks}")
    for block in blocks:
        _check_block(block, name)


def _check_block(block: dict[str, Any], name: str) -> None:
    kind = block.get("type")
    text = (block.get("text") or {}).get("text", "")
    if kind == "header" and len(text) > MAX_HEADER:
        raise RenderError(f"{name}: header longer than {MAX_HEADER}")
    if len(text) > MAX_TEXT:
        raise RenderError(f"{name}: a text of {len(text)} characters, Slack allows {MAX_TEXT}")
    fields = block.get("fields") or []
    if len(fields) > MAX_FIELDS:
        raise RenderError(f"{name}: {len(fields)} fields, Slack allows {MAX_FIELDS}")
    for one_field in fields:
        if len(one_field.get("text", "")) > 2000:
            raise RenderError(f"{name}: a field longer than 2000 characters")


MAX_CONTEXT_ELEMENTS = 10
MAX_ACTIONS = 25
MAX_FIELD = 2000


def fit_blocks(blocks: Any, max_blocks: int) -> Any:
    """Bring blocks within Slack's limits, saying what was left out ("…and 37 more") instead of failing.

    Long texts are cut at a line boundary, surplus fields and context elements are replaced by a
    count, and surplus blocks by a context line, keeping the last block (the buttons or the footer).
    """
    if not isinstance(blocks, list):
        return blocks
    fitted = [_fit_block(block) if isinstance(block, dict) else block for block in blocks]
    if len(fitted) <= max_blocks:
        return fitted
    dropped = len(fitted) - (max_blocks - 1)
    note = {"type": "context", "elements": [{"type": "mrkdwn", "text": f"…and {dropped} more"}]}
    return [*fitted[: max_blocks - 2], note, fitted[-1]]


def _fit_block(block: dict[str, Any]) -> dict[str, Any]:
    block = dict(block)
    text = block.get("text")
    if isinstance(text, dict) and isinstance(text.get("text"), str):
        limit = MAX_HEADER if block.get("type") == "header" else MAX_TEXT
        block["text"] = {**text, "text": fit_text(text["text"], limit)}
    fields = block.get("fields")
    if isinstance(fields, list):
        block["fields"] = _fit_items(fields, MAX_FIELDS, MAX_FIELD)
    elements = block.get("elements")
    if isinstance(elements, list) and block.get("type") == "context":
        block["elements"] = _fit_items(elements, MAX_CONTEXT_ELEMENTS, MAX_TEXT)
    elif isinstance(elements, list) and block.get("type") == "actions":
        block["elements"] = elements[:MAX_ACTIONS]
    return block


def _fit_items(items: list[Any], max_items: int, max_text: int) -> list[Any]:
    fitted = [
        {**item, "text": fit_text(item["text"], max_text)}
        if isinstance(item, dict) and isinstance(item.get("text"), str)
        else item
        for item in items
    ]
    if len(fitted) <= max_items:
        return fitted
    surplus = len(fitted) - (max_items - 1)
    return [*fitted[: max_items - 1], {"type": "mrkdwn", "text": f"…and {surplus} more"}]


def fit_text(text: str, limit: int) -> str:
    """The text if it fits; else whole lines up to the limit and "…and N more lines" (or a cut with "…")."""
    if len(text) <= limit:
        return text
    lines = text.split("\n")
    kept: list[str] = []
    size = 0
    for line in lines:
        note = f"…and {len(lines) - len(kept)} more lines"
        if size + len(line) + 1 + len(note) > limit:
            break
        kept.append(line)
        size += len(line) + 1
    if len(kept) < 1:
        return text[: limit - 1] + "…"
    return "\n".join([*kept, f"…and {len(lines) - len(kept)} more lines"])

"""Block Kit as plain text, the way a terminal can show what Slack would display."""

from __future__ import annotations

import re
from typing import Any

WIDTH = 72
_LINK = re.compile(r"<([^|>]+)\|([^>]+)>")
_UNESCAPE = (("&lt;", "<"), ("&gt;", ">"), ("&amp;", "&"))


def mrkdwn_to_text(text: str) -> str:
    """Drop mrkdwn markup a terminal cannot show: links keep their label, entities are decoded."""
    text = _LINK.sub(r"\2", text)
    text = re.sub(r"(?<!\w)\*(\S[^*]*?)\*(?!\w)", r"\1", text)
    text = re.sub(r"(?<!\w)_(\S[^_]*?)_(?!\w)", r"\1", text)
    for entity, char in _UNESCAPE:
        text = text.replace(entity, char)
    return text


def blocks_to_text(message: dict[str, Any]) -> str:
    """A readable rendering of a message's blocks (or its fallback text when it has none)."""
    blocks = message.get("blocks") or []
    if not blocks:
        return mrkdwn_to_text(str(message.get("text", "")))
    return "\n".join(line for block in blocks for line in _block_lines(block))


def _text_of(obj: dict[str, Any] | None) -> str:
    return mrkdwn_to_text(str((obj or {}).get("text", "")))


def _block_lines(block: dict[str, Any]) -> list[str]:
    kind = block.get("type")
    if kind == "header":
        title = _text_of(block.get("text"))
        return [title, "=" * min(len(title), WIDTH)]
    if kind == "divider":
        return ["-" * WIDTH]
    if kind == "context":
        return ["  " + "  ·  ".join(_text_of(e) for e in block.get("elements", []) if "text" in e)]
    if kind == "actions":
        return ["  ".join(f"[ {_text_of(e.get('text'))} ]" for e in block.get("elements", []))]
    lines = _text_of(block.get("text")).splitlines() if block.get("text") else []
    fields = [_text_of(f) for f in block.get("fields", [])]
    for left, right in zip(fields[::2], [*fields[1::2], ""], strict=False):
        lines.append(f"{left.replace(chr(10), ' '):<36}  {right.replace(chr(10), ' ')}".rstrip())
    accessory = block.get("accessory") or {}
    if accessory.get("type") == "button":
        lines.append(f"[ {_text_of(accessory.get('text'))} ]")
    return lines

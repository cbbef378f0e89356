"""Rows that act on an earlier message: an update (chat.update) or a reply in its thread.

The payload names the earlier row's key (`update_of` or `thread_of`); its Slack `ts` is only known
once that row was sent, so such a row waits until then.
"""

from __future__ import annotations

from typing import Any

UPDATE_SUFFIX = ":update"


def anchor_key(payload: dict[str, Any]) -> str | None:
    """The key of the row this one updates or replies to, if any."""
    key = payload.get("update_of") or payload.get("thread_of")
    return str(key) if key else None


def is_update(kind: str) -> bool:
    """An edit of a posted message: idempotent, so it is sent again rather than looked up."""
    return kind.endswith(UPDATE_SUFFIX)


def is_reply(payload: dict[str, Any]) -> bool:
    return bool(payload.get("thread_of"))


def is_direct(kind: str) -> bool:
    """A direct message, sent to a user id (the bot's DM with them)."""
    return kind.endswith(":dm")

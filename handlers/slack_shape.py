"""The shape a signed Slack payload must have before Bolt sees it (Bolt indexes into these fields).

Slack's own payloads always pass; a payload that would crash Bolt or a listener (an empty
`actions` list, a `team` that is a number, a message button with no `response_url`) is a
`BadRequest` with a reason, answered 400 at the edge, instead of a 500 with a traceback.
"""

from __future__ import annotations

from typing import Any

from bot.errors import BadRequest

# Payloads from a person's click or submit: Slack sends team, user and channel as objects there.
INTERACTIONS = frozenset(
    {"block_actions", "view_submission", "view_closed", "shortcut", "message_action", "block_suggestion"}
)
_OBJECTS = ("view", "container", "message", "previous_message", "item", "assistant_thread", "function_data")
_ID_HOLDERS = ("team", "user", "channel", "enterprise")
_ID_FIELDS = ("id", "team_id", "enterprise_id")


def check_payload(payload: dict[str, Any]) -> None:
    """Raise BadRequest naming the first field of a shape Slack never sends."""
    kind = payload.get("type")
    if kind is not None and not isinstance(kind, str):
        raise BadRequest("field_type")
    _check_holders(payload, interaction=kind in INTERACTIONS)
    for name in _OBJECTS:
        if payload.get(name) is not None and not isinstance(payload[name], dict):
            raise BadRequest(f"field_{name}")
    if "view" in payload and not isinstance(payload["view"], dict):
        raise BadRequest("field_view")  # Bolt looks inside a `view` that is there, even null
    _check_lists(payload)
    _check_event(payload, kind)
    if kind in ("block_actions", "interactive_message"):
        _check_actions(payload)


def _check_holders(payload: dict[str, Any], *, interaction: bool) -> None:
    for name in _ID_HOLDERS:
        value = payload.get(name)
        if value is None or (isinstance(value, str) and not interaction):
            continue
        if not isinstance(value, dict) or not _ids_are_text(value):
            raise BadRequest(f"field_{name}")


def _ids_are_text(value: dict[str, Any]) -> bool:
    return all(value.get(key) is None or isinstance(value[key], str) for key in _ID_FIELDS)


def _check_lists(payload: dict[str, Any]) -> None:
    for name in ("authorizations", "response_urls"):
        value = payload.get(name)
        if value is not None and not (isinstance(value, list) and all(isinstance(v, dict) for v in value)):
            raise BadRequest(f"field_{name}")
    for name in ("response_url", "trigger_id", "command", "event_id"):
        if payload.get(name) is not None and not isinstance(payload[name], str):
            raise BadRequest(f"field_{name}")


def _check_event(payload: dict[str, Any], kind: object) -> None:
    event = payload.get("event")
    if event is None and kind != "event_callback":
        return
    if not isinstance(event, dict) or not isinstance(event.get("type"), str):
        raise BadRequest("field_event")


def _check_actions(payload: dict[str, Any]) -> None:
    actions = payload.get("actions")
    if not isinstance(actions, list) or not actions:
        raise BadRequest("no_actions")
    if not all(isinstance(a, dict) for a in actions):
        raise BadRequest("field_actions")
    if payload.get("type") == "block_actions" and not all(
        isinstance(a.get("action_id"), str) for a in actions
    ):
        raise BadRequest("field_actions")  # Bolt's matchers read every action's action_id
    # A button in a message is answered through its response_url; Slack always sends one there.
    container = payload.get("container") or {}
    if container.get("type") != "view" and "view" not in payload and not payload.get("response_url"):
        raise BadRequest("no_response_url")

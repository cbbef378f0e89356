"""The Slack app manifest for PUBLIC_URL: commands, least scopes, URLs filled in."""

from __future__ import annotations

from typing import Any

from bot.app.wiring import BOT_SCOPES, SLACK_REDIRECT_PATH
from bot.config import Settings
from bot.providers import registry
from handlers.catalog import SLASH_COMMANDS

# app_home_opened (the Home tab) needs no scope; views.publish needs none either.
BOT_EVENTS = ("app_uninstalled", "tokens_revoked", "app_home_opened")


def build_manifest(settings: Settings) -> dict[str, Any]:
    events_url = settings.url_for("/slack/events")
    return {
        "_metadata": {"major_version": 1, "minor_version": 1},
        "display_information": {
            "name": "cashbot",
            "description": f"Cash position and overdue invoices from {registry.joined_titles()}, in Slack.",
            "background_color": "#1f4d3a",
        },
        "features": {
            "bot_user": {"display_name": "cashbot", "always_online": True},
            # The Home tab; the Messages tab carries the DMs (consent warnings, unusual access),
            # read-only because cashbot reads no messages.
            "app_home": {
                "home_tab_enabled": True,
                "messages_tab_enabled": True,
                "messages_tab_read_only_enabled": True,
            },
            "slash_commands": [
                {
                    "command": command.command,
                    "url": events_url,
                    "description": command.description,
                    "usage_hint": command.usage_hint,
                    # Mentions arrive as <@U…> so `/cashbot access grant @user` can read them.
                    "should_escape": True,
                }
                for command in SLASH_COMMANDS
            ],
        },
        "oauth_config": {
            "redirect_urls": [settings.url_for(SLACK_REDIRECT_PATH)],
            "scopes": {"bot": list(BOT_SCOPES)},
        },
        "settings": {
            "event_subscriptions": {"request_url": events_url, "bot_events": list(BOT_EVENTS)},
            "interactivity": {"is_enabled": True, "request_url": events_url},
            "org_deploy_enabled": False,
            "socket_mode_enabled": False,
            "token_rotation_enabled": False,
        },
    }

"""Alert messages (rendered for the outbox) and `/cashbot alerts [here|off]`."""

from __future__ import annotations

from typing import Any

from bot.domain import Actor
from bot.errors import UserError
from bot.features.access.rights import AccessService
from bot.features.consent_watch import ConsentNotice
from bot.features.incidents.lifecycle import Notice
from bot.features.incidents.records import (
    ALERTS_OFF,
    AlertChannel,
    alert_channel,
    open_incidents,
    set_alert_channel,
)
from bot.features.workspaces import WorkspaceService
from bot.render import Renderer
from handlers.alert_words import TITLES, stamp, words
from handlers.catalog import CommandSpec
from handlers.listeners import Listeners
from handlers.slash import CommandRequest, Reply
from storage.database import Database

USAGE = "Usage: `/cashbot alerts` (where they go), `/cashbot alerts here` or `/cashbot alerts off`."
MANAGERS_ONLY = "Only workspace admins and managers can change where alerts go."


class AlertView:
    """Renders one step of an incident into an outbox payload (text and blocks)."""

    def __init__(self, renderer: Renderer) -> None:
        self._renderer = renderer

    def compose(self, notice: Notice) -> dict[str, Any]:
        message = self._renderer.message(
            "alert.json.j2", phase=notice.phase, w=words(notice), incident_id=notice.incident.id
        )
        return message.as_kwargs()

    def access_notice(self, title: str) -> dict[str, Any]:
        return self._renderer.message("access_notice.json.j2", title=title).as_kwargs()

    def consent_dm(self, notice: ConsentNotice) -> dict[str, Any]:
        message = self._renderer.message(
            "consent_dm.json.j2", days=notice.days, expires=stamp(notice.expires_at)
        )
        return message.as_kwargs()


class AlertCommands:
    """/cashbot alerts: show, `here` (this channel), `off`; admins and managers change it."""

    def __init__(
        self, *, database: Database, workspaces: WorkspaceService, access: AccessService, renderer: Renderer
    ) -> None:
        self._database = database
        self._workspaces = workspaces
        self._access = access
        self._renderer = renderer

    def register(self, on: Listeners) -> None:
        on.subcommand(
            "alerts",
            CommandSpec("/cashbot alerts [here|off]", "Where alerts about failing syncs go"),
            self.handle,
        )

    async def handle(self, request: CommandRequest, actor: Actor) -> Reply:
        workspace_id = await self._workspaces.workspace_id(request.team_id)
        words_ = [w.casefold() for w in request.args[1:]]
        if words_ not in ([], ["here"], ["off"]):
            raise UserError(USAGE)
        if words_:
            if not await self._access.can_manage(actor, workspace_id):
                raise UserError(MANAGERS_ONLY)
            await set_alert_channel(
                self._database, workspace_id, request.channel_id if words_ == ["here"] else ALERTS_OFF
            )
        async with self._database.read() as session:
            current = await alert_channel(session, workspace_id)
        return Reply(self._renderer.message("alert_answer.json.j2", message=describe(current)))


class AlertStatus:
    """The alerts' lines in /cashbot status: where they go, and each open one."""

    def __init__(self, database: Database) -> None:
        self._database = database

    async def lines(self, workspace_id: int) -> list[str]:
        async with self._database.read() as session:
            current = await alert_channel(session, workspace_id)
        # Status lines are shown as plain text (escaped): no channel links here.
        if current.off:
            lines = ["off (`/cashbot alerts here` turns them on)"]
        elif current.channel_id:
            lines = [
                f"posted in channel {current.channel_id}" + ("" if current.chosen else " (the digest's)")
            ]
        else:
            lines = ["no channel yet (`/cashbot alerts here`)"]
        for incident in await open_incidents(self._database, workspace_id):
            title = TITLES.get(incident.provider, incident.provider)
            lines.append(f"⚠ open: {title} ({incident.kind}) since {stamp(incident.first_failed_at)}")
        return lines


def describe(current: AlertChannel) -> str:
    if current.off:
        return (
            "Alerts are *off*: failing syncs show in `/cashbot status`. `/cashbot alerts here` turns them on."
        )
    if current.chosen:
        return f"Alerts about failing syncs go to <#{current.chosen}>."
    if current.digest:
        return f"Alerts go to the digest channel, <#{current.digest}>. `/cashbot alerts here` picks another."
    return "Alerts have no channel yet: run `/cashbot alerts here` (or `/cashbot digest here`) in one."

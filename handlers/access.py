"""/cashbot access [list | grant @user | revoke @user | public add|remove #channel|here]."""

from __future__ import annotations

import re

from bot.domain import Actor, AuditOutcome
from bot.errors import UserError
from bot.features.access.gate import AuditRecorder
from bot.features.access.rights import AccessService
from bot.features.workspaces import WorkspaceService
from bot.render import Renderer
from handlers.catalog import CommandSpec
from handlers.listeners import Listeners
from handlers.slash import CommandRequest, Reply

# With should_escape, Slack sends mentions as <@U123|name> and channels as <#C123|name>.
_USER = re.compile(r"<@([UW][A-Z0-9]{2,20})(?:\|[^>]{0,80})?>")
_CHANNEL = re.compile(r"<#([CG][A-Z0-9]{2,20})(?:\|[^>]{0,80})?>")
USAGE = (
    "Usage: `/cashbot access list`, `/cashbot access grant @user`, `/cashbot access revoke @user`, "
    "`/cashbot access public add #channel` or `/cashbot access public remove #channel` "
    "(`here` names this channel)."
)


class AccessCommands:
    """Lists and changes who may see financial data; changes are for admins and managers, and audited."""

    def __init__(
        self,
        *,
        access: AccessService,
        audit: AuditRecorder,
        workspaces: WorkspaceService,
        renderer: Renderer,
    ) -> None:
        self._access = access
        self._audit = audit
        self._workspaces = workspaces
        self._renderer = renderer

    def register(self, on: Listeners) -> None:
        on.subcommand(
            "access",
            CommandSpec(
                "/cashbot access [list|grant @user|revoke @user|public add|remove #channel]",
                "Who may see financial data, and where answers may be public",
            ),
            self.handle,
        )

    async def handle(self, request: CommandRequest, actor: Actor) -> Reply:
        words = request.args[1:]
        verb = words[0].lower() if words else "list"
        workspace_id = await self._workspaces.workspace_id(request.team_id)
        policy = await self._access.policy(workspace_id)
        if verb == "list":
            if not policy.can_view(actor):
                return await self._refuse(request, actor, "access.list", workspace_id)
            return await self._list(workspace_id, actor.locale)
        if verb not in ("grant", "revoke", "public"):
            raise UserError(USAGE)
        if not policy.can_manage(actor):
            return await self._refuse(request, actor, f"access.{verb}", workspace_id)
        if verb == "public":
            return await self._public(request, words[1:], workspace_id)
        return await self._grant_or_revoke(request, verb, words[1:], workspace_id)

    async def _list(self, workspace_id: int, locale: str | None) -> Reply:
        policy = await self._access.policy(workspace_id)
        return Reply(
            self._renderer.message(
                "access_list.json.j2",
                managers=sorted(policy.managers),
                grants=await self._access.grants(workspace_id),
                public_channels=sorted(policy.public_channels),
                loc=locale,
            )
        )

    async def _grant_or_revoke(
        self, request: CommandRequest, verb: str, words: list[str], workspace_id: int
    ) -> Reply:
        user = _one(_USER, words)
        if verb == "grant":
            changed = await self._access.grant(workspace_id, user, request.user_id)
            message = (
                f"<@{user}> can now see cashbot's financial data."
                if changed
                else (f"<@{user}> already had access.")
            )
        else:
            changed = await self._access.revoke(workspace_id, user)
            message = (
                f"<@{user}> can no longer see cashbot's financial data."
                if changed
                else (f"<@{user}> had no grant to revoke (admins and managers keep their access).")
            )
        await self._record(request, f"access.{verb}", {"user": user, "changed": changed})
        return Reply(self._renderer.message("access_changed.json.j2", message=message))

    async def _public(self, request: CommandRequest, words: list[str], workspace_id: int) -> Reply:
        if len(words) != 2 or words[0].lower() not in ("add", "remove"):
            raise UserError(USAGE)
        adding = words[0].lower() == "add"
        channel = request.channel_id if words[1].lower() == "here" else _one(_CHANNEL, words[1:])
        changed = await self._access.set_public(workspace_id, channel, adding)
        await self._record(
            request,
            "access.public_add" if adding else "access.public_remove",
            {"channel": channel, "changed": changed},
        )
        message = (
            f"Answers may now be posted publicly in <#{channel}> with `/cash public` or `/overdue public`."
            if adding
            else f"Answers are no longer posted publicly in <#{channel}>."
        )
        return Reply(self._renderer.message("access_changed.json.j2", message=message))

    async def _refuse(self, request: CommandRequest, actor: Actor, action: str, workspace_id: int) -> Reply:
        await self._record(request, action, {}, outcome=AuditOutcome.DENIED)
        managers = sorted((await self._access.policy(workspace_id)).managers)
        manage = action != "access.list"
        return Reply(self._renderer.message("access_refused.json.j2", managers=managers, manage=manage))

    async def _record(
        self,
        request: CommandRequest,
        action: str,
        detail: dict[str, object],
        outcome: AuditOutcome = AuditOutcome.OK,
    ) -> None:
        await self._audit.record(
            team_id=request.team_id,
            actor=request.user_id,
            action=action,
            outcome=outcome,
            channel_id=request.channel_id,
            detail=detail,
        )


def _one(pattern: re.Pattern[str], words: list[str]) -> str:
    """The id in the only word, which must be a proper Slack mention; otherwise the usage."""
    match = pattern.fullmatch(words[0]) if len(words) == 1 else None
    if match is None:
        raise UserError(USAGE)
    return match.group(1)

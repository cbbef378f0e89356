"""The "Sync now" button of /cash: enqueue at once, then replace the message with fresh figures."""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.webhook.async_client import AsyncWebhookClient

from bot.clock import Clock
from bot.domain import Actor, AuditOutcome
from bot.errors import UserError
from bot.features.access.gate import AuditRecorder, ViewGate
from bot.features.cash.position import CashService
from bot.features.sync.requests import (
    OK_OUTCOMES,
    RESPONSE_URL_LIFETIME,
    FinishedRequest,
    SyncAsk,
    SyncRequests,
)
from bot.features.workspaces import WorkspaceService
from bot.providers import registry
from bot.render import Renderer
from handlers.listeners import Listeners
from handlers.slash import Ack, Reply
from handlers.views import FinancialViews, Respond, action_actor, answer_action, channel_of, is_ephemeral

log = logging.getLogger(__name__)


class SyncButton:
    """Handles the click; a follow-up (`deliver`) posts the fresh figures through the stored response_url."""

    def __init__(
        self,
        *,
        workspaces: WorkspaceService,
        gate: ViewGate,
        requests: SyncRequests,
        renderer: Renderer,
        audit: AuditRecorder,
    ) -> None:
        self._workspaces = workspaces
        self._gate = gate
        self._requests = requests
        self._renderer = renderer
        self._audit = audit

    def register(self, on: Listeners) -> None:
        on.action("cash_sync_now", self.clicked)

    async def clicked(
        self, ack: Ack, body: dict[str, Any], context: dict[str, Any], respond: Respond
    ) -> None:
        await ack()
        actor = action_actor(body, context)

        async def produce() -> Reply:
            return await self._enqueue(actor, context.get("workspace_id"), body)

        await answer_action(respond, self._renderer, "cash_sync_now", produce)

    async def _enqueue(self, actor: Actor, workspace_id: int | None, body: dict[str, Any]) -> Reply:
        workspace_id = workspace_id or await self._workspaces.workspace_id(actor.team_id)
        channel_id = channel_of(body)
        # A click on a public /cash answer would replace it publicly: that needs the channel to
        # allow public answers today, not when the message was first posted.
        admission = await self._gate.admit(
            actor, workspace_id, channel_id, "/cash sync", wants_public=not is_ephemeral(body)
        )
        if not admission.allowed:
            return Reply(
                self._renderer.message("access_refused.json.j2", managers=admission.managers, manage=False)
            )
        if admission.public_refused:
            raise UserError(
                "This channel no longer allows public cashbot answers, so this message cannot be "
                "refreshed here. Type `/cash` for an answer only you see."
            )
        ask = SyncAsk(
            workspace_id=workspace_id,
            user_id=actor.user_id,
            channel_id=channel_id,
            response_url=body.get("response_url"),
            locale=actor.locale,
            in_channel=admission.public,
        )
        result = await self._requests.request(ask)
        await self._audit.record(
            team_id=actor.team_id,
            actor=actor.user_id,
            action="sync.requested",
            outcome=AuditOutcome.OK if result.accepted else AuditOutcome.REFUSED,
            channel_id=channel_id,
            detail={"providers": list(result.providers), "reason": result.reason},
        )
        minutes = math.ceil(result.retry_in.total_seconds() / 60) if result.retry_in else 0
        titles = [registry.titles().get(p, p) for p in result.providers]
        return Reply(
            self._renderer.message("cash_sync_answer.json.j2", result=result, minutes=minutes, titles=titles)
        )


class SyncFollowUp:
    """Replaces the clicked /cash message with figures computed right after the sync."""

    def __init__(
        self,
        *,
        cash: CashService,
        views: FinancialViews,
        audit: AuditRecorder,
        clock: Clock,
        webhook: Callable[[str], AsyncWebhookClient] = lambda url: AsyncWebhookClient(url, timeout=10),
    ) -> None:
        self._cash = cash
        self._views = views
        self._audit = audit
        self._clock = clock
        self._webhook = webhook

    async def deliver(self, done: FinishedRequest) -> None:
        if not done.response_url or self._clock.now() - done.created_at > RESPONSE_URL_LIFETIME:
            log.info("sync_request.no_follow_up", extra={"request_id": done.id})
            return
        position = await self._cash.position(done.workspace_id, fresh=True)
        outcomes = " · ".join(
            f"{registry.titles().get(r.provider.value, r.provider.value)} "
            + ("✓" if r.outcome in OK_OUTCOMES else f"failed ({r.error_code or r.outcome})")
            for r in done.results
        )
        message = self._views.cash(
            position,
            done.locale,
            workspace_id=done.workspace_id,
            note=f"Synced just now at your request: {outcomes}",
        )
        await self._audit.record(
            team_id=done.team_id,
            actor=done.user_id or "unknown",
            action="view.cash",
            channel_id=done.channel_id,
            detail={"command": "/cash sync", "public": done.in_channel, "accounts": len(position.accounts)},
        )
        try:
            response = await self._webhook(done.response_url).send(
                replace_original=True,
                response_type="in_channel" if done.in_channel else "ephemeral",
                **message.as_kwargs(),
            )
        except (SlackApiError, OSError, TimeoutError) as error:
            log.warning(
                "sync_request.follow_up_unsent", extra={"request_id": done.id, "error": type(error).__name__}
            )
            return
        if response.status_code != 200:
            log.warning(
                "sync_request.follow_up_refused",
                extra={"request_id": done.id, "status": response.status_code},
            )

"""/overdue [min-days] [customer words] [public], and its "Show more" button."""

from __future__ import annotations

from typing import Any

from slack_bolt.response import BoltResponse

from bot.domain import Actor
from bot.features.access.gate import ViewGate, invoice_numbers
from bot.features.receivables.overdue import OverdueQuery, ReceivablesService, parse_button, parse_overdue
from bot.features.workspaces import WorkspaceService
from handlers.catalog import CommandSpec
from handlers.listeners import Listeners
from handlers.slash import Ack, CommandRequest, Reply, answer
from handlers.views import (
    FinancialViews,
    Respond,
    action_actor,
    action_value,
    answer_action,
    channel_of,
    is_ephemeral,
)

PURPOSE = "overdue"  # the sentence is in templates/cash_connect.json.j2


class OverdueCommand:
    """Answers /overdue and pages through the rest with a button; never calls a provider."""

    def __init__(
        self,
        *,
        workspaces: WorkspaceService,
        gate: ViewGate,
        receivables: ReceivablesService,
        views: FinancialViews,
    ) -> None:
        self._workspaces = workspaces
        self._gate = gate
        self._receivables = receivables
        self._views = views

    def register(self, on: Listeners) -> None:
        spec = CommandSpec(
            "/overdue [min-days] [customer words] [public]",
            "Overdue customer invoices: totals, ageing, the largest ones",
            financial=True,
        )
        on.command("/overdue", self.handle, spec)
        on.action("overdue_more", self.show_more)

    async def handle(self, ack: Ack, body: dict[str, Any], context: dict[str, Any]) -> BoltResponse:
        request = CommandRequest.from_payload(body)
        actor = context.get("actor") or Actor(request.team_id, request.user_id)
        workspace_id = context.get("workspace_id")

        async def produce() -> Reply:
            query = parse_overdue(request.text)
            return await self.reply(query, actor, workspace_id, request.channel_id, "/overdue")

        return await answer(self._views.renderer, "/overdue", produce)

    async def show_more(
        self, ack: Ack, body: dict[str, Any], context: dict[str, Any], respond: Respond
    ) -> None:
        await ack()
        actor = action_actor(body, context)

        async def produce() -> Reply:
            query = parse_button(action_value(body))
            return await self.reply(
                query, actor, context.get("workspace_id"), channel_of(body), "/overdue more"
            )

        # Paging an ephemeral answer replaces it; a public answer stays, the next page comes to the clicker.
        await answer_action(
            respond, self._views.renderer, "overdue_more", produce, replace_original=is_ephemeral(body)
        )

    async def reply(
        self, query: OverdueQuery, actor: Actor, workspace_id: int | None, channel_id: str, command: str
    ) -> Reply:
        workspace_id = workspace_id or await self._workspaces.workspace_id(actor.team_id)
        admission = await self._gate.admit(
            actor, workspace_id, channel_id, command, wants_public=query.public
        )
        if not admission.allowed:
            return self._views.refusal(admission)
        page = await self._receivables.overdue(workspace_id, query)
        if not page.books.connected:
            return self._views.connect_prompt(admission, [page.books], PURPOSE)
        await self._gate.viewed(
            admission,
            {
                "filters": {"min_days": query.min_days, "words": list(query.words)},
                "page": page.page,
                "items": len(page.invoices),
                "invoices": invoice_numbers([line.reference for line in page.invoices]),
            },
        )
        await self._gate.overdue_page_viewed(
            admission, query.filter_key, page.page, page.pages, page.summary.invoices
        )
        message = self._views.overdue(
            page, actor.locale, workspace_id=workspace_id, public_refused=admission.public_refused
        )
        return self._views.reply(message, admission)

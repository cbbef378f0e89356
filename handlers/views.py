"""How financial answers are rendered and sent: cached rendering, refusals, connect prompts, action replies.

Rendering a report costs far more than serving it from the cache, so rendered messages are kept
per report stamp, locale and minute (the "5 min ago" texts are exact to the minute); a new
report (after a sync or once the report cache refreshes) has a new stamp and renders afresh.
"""

from __future__ import annotations

import datetime as dt
import logging
import secrets
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from bot import log_context, metrics
from bot.clock import Clock
from bot.domain import Actor
from bot.errors import BadRequest, StorageUnavailable, UserError
from bot.features.access.gate import Admission
from bot.features.cash.position import CashPosition
from bot.features.freshness import SourceStatus
from bot.features.receivables.overdue import OverduePage
from bot.render import Message, Renderer
from handlers.slash import Reply

log = logging.getLogger(__name__)

MAX_ACCOUNTS_SHOWN = 24
MAX_RENDERED = 1024
Respond = Callable[..., Awaitable[Any]]


class FinancialViews:
    """Renders /cash and /overdue answers (cached), refusals and connect prompts."""

    def __init__(
        self,
        renderer: Renderer,
        clock: Clock,
        max_accounts: int = MAX_ACCOUNTS_SHOWN,
    ) -> None:
        self.renderer = renderer
        self._clock = clock
        self._max_accounts = max_accounts
        self._rendered: OrderedDict[tuple[Any, ...], Message] = OrderedDict()

    def _cached(self, key: tuple[Any, ...], render: Callable[[dt.datetime], Message]) -> Message:
        now = self._clock.now()
        full_key = (*key, int(now.timestamp() // 60))
        message = self._rendered.get(full_key)
        if message is None:
            message = render(now)
            self._rendered[full_key] = message
            while len(self._rendered) > MAX_RENDERED:
                self._rendered.popitem(last=False)
        return message

    def cash(
        self,
        position: CashPosition,
        locale: str | None,
        *,
        workspace_id: int,
        public_refused: bool = False,
        note: str | None = None,
    ) -> Message:
        shown = position.accounts[: self._max_accounts]
        return self._cached(
            ("cash", workspace_id, position.stamp, locale, public_refused, note),
            lambda now: self.renderer.message(
                "cash.json.j2",
                p=position,
                loc=locale,
                now=now,
                shown=shown,
                hidden=len(position.accounts) - len(shown),
                note=note,
                public_refused=public_refused,
                sync_button=True,
            ),
        )

    def overdue(
        self, page: OverduePage, locale: str | None, *, workspace_id: int, public_refused: bool = False
    ) -> Message:
        return self._cached(
            ("overdue", workspace_id, page.stamp, locale, public_refused),
            lambda now: self.renderer.message(
                "overdue.json.j2", r=page, loc=locale, now=now, public_refused=public_refused
            ),
        )

    def reply(self, message: Message, admission: Admission) -> Reply:
        return Reply(message, "in_channel" if admission.public else "ephemeral")

    def refusal(self, admission: Admission) -> Reply:
        return Reply(
            self.renderer.message("access_refused.json.j2", managers=admission.managers, manage=False)
        )

    def connect_prompt(self, admission: Admission, needed: Sequence[SourceStatus], purpose: str) -> Reply:
        return Reply(
            self.renderer.message(
                "cash_connect.json.j2",
                needed=list(needed),
                purpose=purpose,
                can_connect=admission.can_manage,
                managers=admission.managers,
            )
        )


async def answer_action(
    respond: Respond,
    renderer: Renderer,
    name: str,
    produce: Callable[[], Awaitable[Reply]],
    *,
    replace_original: bool = False,
) -> None:
    """Run a button's work and answer through its response_url; failures become a short message.

    Without a response_url (a message button copied into a modal, say) there is no way to answer:
    nothing is done, and the request is refused 400 (BadRequest, see handlers.errors).
    """
    if not getattr(respond, "response_url", None):
        raise BadRequest("no_response_url")
    outcome = "ok"
    started = time.perf_counter()
    try:
        with log_context.bind(command=name):
            reply = await produce()
    except StorageUnavailable:
        outcome, replace_original = "unavailable", False
        reply = Reply(renderer.message("unavailable.json.j2"))
    except UserError as error:
        outcome, replace_original = "user_error", False
        reply = Reply(renderer.message("user_error.json.j2", message=str(error)))
    except Exception:
        outcome, replace_original = "error", False
        reference = secrets.token_hex(4)
        log.exception("action.failed", extra={"action": name, "reference": reference})
        reply = Reply(renderer.message("internal_error.json.j2", reference=reference))
    metrics.SLACK_COMMANDS.labels(command=name, outcome=outcome).inc()
    metrics.COMMAND_SECONDS.labels(name).observe(time.perf_counter() - started)
    await respond(
        response_type=reply.response_type, replace_original=replace_original, **reply.message.as_kwargs()
    )


def action_value(body: dict[str, Any]) -> str:
    actions = body.get("actions") or [{}]
    return str(actions[0].get("value") or "")[:2000]


def is_ephemeral(body: dict[str, Any]) -> bool:
    return bool((body.get("container") or {}).get("is_ephemeral", True))


def action_actor(body: dict[str, Any], context: dict[str, Any]) -> Actor:
    """Who clicked: the Actor the request middleware resolved, else the ids in the action's body."""
    actor: Actor | None = context.get("actor")
    if actor is not None:
        return actor
    team_id = str((body.get("team") or {}).get("id") or context.get("team_id") or "")
    return Actor(team_id, str((body.get("user") or {}).get("id") or ""))


def channel_of(body: dict[str, Any]) -> str:
    return str((body.get("channel") or {}).get("id") or (body.get("container") or {}).get("channel_id") or "")

"""Connecting Yuki through our own one-time form: key → administrations → choice → connection.

The access key never travels through Slack: the admin pastes it into the form the one-time
link opens. Between the form's two steps it waits on the link, encrypted. Nothing is saved
until the administration is chosen; a wrong key, a key without Accounting rights or Yuki
being down only ever produce a message on the form.
"""

from __future__ import annotations

import hmac
import json
import logging
from dataclasses import asdict, dataclass, replace

from bot.clock import Clock
from bot.domain import AuditOutcome, LinkGrant, Provider
from bot.errors import MalformedResponse, ProviderUnavailable, RateLimited, ReauthRequired, UserError
from bot.providers.base import Audit, Links
from bot.providers.connections import ConnectionService, ConnectionView
from bot.providers.yuki.api import Administration
from bot.providers.yuki.api.protocol import is_xml_safe
from bot.providers.yuki.call_budget import DailyCallBudget, domain_scope, provisional_scope
from bot.providers.yuki.plugin import YukiClientFactory, YukiSettings
from storage.database import Database
from storage.yuki import forget_ledger

log = logging.getLogger(__name__)

MAX_KEY_LENGTH = 200
MAX_KEY_ATTEMPTS = 5  # per link: enough for typos, too few to use cashbot against Yuki
YUKI = Provider.YUKI


class CsrfRejected(UserError):
    """The form was not posted by the page the link opened (or its cookie is gone)."""


@dataclass(frozen=True)
class YukiConnected:
    """The outcome of a completed form."""

    grant: LinkGrant
    administration: Administration
    connection: ConnectionView


@dataclass(frozen=True)
class _Pending:
    """What waits on the link between the two steps (encrypted there)."""

    key: str
    administrations: list[Administration]
    calls: int

    def seal(self) -> str:
        return json.dumps(
            {
                "key": self.key,
                "calls": self.calls,
                "administrations": [asdict(a) for a in self.administrations],
            }
        )

    @classmethod
    def open(cls, sealed: str) -> _Pending:
        data = json.loads(sealed)
        admins = [Administration(**a) for a in data["administrations"]]
        return cls(str(data["key"]), admins, int(data["calls"]))


class YukiConnector:
    """The form's steps; each checks the link (and the CSRF token) again."""

    def __init__(
        self,
        *,
        database: Database,
        links: Links,
        connections: ConnectionService,
        budget: DailyCallBudget,
        audit: Audit,
        clients: YukiClientFactory,
        clock: Clock,
        defaults: YukiSettings | None = None,
    ) -> None:
        self._database = database
        self._links = links
        self._connections = connections
        self._budget = budget
        self._audit = audit
        self._clients = clients
        self._defaults = defaults or YukiSettings()
        self._attempts = DailyCallBudget(database, MAX_KEY_ATTEMPTS, counter="yuki-form", clock=clock)

    async def open_form(self, token: str) -> tuple[LinkGrant, str]:
        """Check the link and hand out the form's CSRF token (only its hash is stored)."""
        grant = await self._links.peek(token, YUKI)
        return grant, await self._links.issue_csrf(grant.link_id)

    async def check(self, token: str, csrf: str | None, cookie: str | None) -> LinkGrant:
        """The link is still good and the post carries the form's token, in field and cookie."""
        grant = await self._links.peek(token, YUKI)
        paired = (
            bool(csrf)
            and bool(cookie)
            and hmac.compare_digest((csrf or "").encode(), (cookie or "").encode())
        )
        if not paired or not await self._links.check_csrf(grant.link_id, csrf):
            await self._fail(grant, "csrf")
            raise CsrfRejected(
                "This form could not be verified (it may be open in another tab, or cookies are "
                "blocked). Open the link from Slack again."
            )
        return grant

    async def submit_key(self, grant: LinkGrant, key: str) -> list[Administration]:
        """Authenticate with the key and list its administrations; the key waits, encrypted."""
        key = _checked_key(key)
        try:
            await self._attempts.spend(f"link:{grant.link_id}")
        except RateLimited:
            await self._fail(grant, "too_many_attempts")
            raise UserError("Too many keys were tried with this link. Ask for a new one in Slack.") from None
        client = self._clients(key, gate=self._budget.gate(provisional_scope(key)))
        try:
            async with client:
                administrations = await client.administrations()
        except (ReauthRequired, RateLimited, ProviderUnavailable, MalformedResponse) as error:
            await self._fail(grant, error.code or type(error).__name__)
            raise UserError(_explain(error)) from None
        if not administrations:
            await self._fail(grant, "no_administrations")
            raise UserError("Yuki accepted the key, but it does not reach any administration.")
        await self._links.stash(grant.link_id, _Pending(key, administrations, client.requests).seal())
        return administrations

    async def administrations(self, grant: LinkGrant) -> list[Administration]:
        """The administrations of the key waiting on the link (none: the key step comes first)."""
        pending = await self._pending(grant)
        return [] if pending is None else pending.administrations

    async def choose(
        self, token: str, grant: LinkGrant, administration_id: str, gl_prefixes: str | None = None
    ) -> YukiConnected:
        """Save the connection for the chosen administration and use the link up."""
        prefixes = YukiSettings.parse_prefixes(gl_prefixes)
        pending = await self._pending(grant)
        if pending is None:
            raise UserError("Enter the Yuki access key first.")
        chosen = next((a for a in pending.administrations if a.id == administration_id), None)
        if chosen is None:
            raise UserError("Choose one of the administrations listed.")
        grant = await self._links.consume(token, YUKI)
        scope = domain_scope(chosen.domain_id) if chosen.domain_id else provisional_scope(pending.key)
        await self._forget_other_administration(grant.workspace_id, chosen.id)
        view = await self._connections.save(
            grant.workspace_id,
            YUKI,
            {"access_key": pending.key},
            connected_by=grant.slack_user_id,
            external_id=chosen.id,
            external_name=chosen.name,
            scope_key=scope,
            settings=replace(self._defaults, bank_gl_prefixes=prefixes).as_dict(),
        )
        if chosen.domain_id:
            await self._budget.charge(scope, pending.calls)  # the form's calls count for the domain
        await self._audit.record(
            team_id=grant.team_id,
            actor=grant.slack_user_id,
            action="connect.yuki",
            detail={"administration_id": chosen.id, "administration": chosen.name},
        )
        log.info("yuki.connected", extra={"team_id": grant.team_id, "administration_id": chosen.id})
        return YukiConnected(grant, chosen, view)

    async def _pending(self, grant: LinkGrant) -> _Pending | None:
        sealed = await self._links.unstash(grant.link_id)
        return None if sealed is None else _Pending.open(sealed)

    async def _forget_other_administration(self, workspace_id: int, administration_id: str) -> None:
        """Items of another administration must not linger (the next sync would "close" them)."""
        previous = await self._connections.find(workspace_id, YUKI)
        if previous is not None and previous.external_id not in (None, administration_id):
            async with self._database.write() as session:
                await forget_ledger(session, workspace_id)

    async def _fail(self, grant: LinkGrant, reason: str) -> None:
        await self._audit.record(
            team_id=grant.team_id,
            actor=grant.slack_user_id,
            action="connect.yuki",
            outcome=AuditOutcome.FAILED,
            detail={"reason": reason[:64]},
        )


def _checked_key(key: str) -> str:
    key = key.strip()
    if not key:
        raise UserError("Paste the web-service access key from Yuki.")
    if len(key) > MAX_KEY_LENGTH or not key.isprintable() or not is_xml_safe(key) or " " in key:
        raise UserError("That does not look like a Yuki web-service access key. Copy it again from Yuki.")
    return key


def _explain(error: Exception) -> str:
    """What the person at the form should know and do; nothing was saved in every case."""
    code = getattr(error, "code", None)
    if code == "no_rights":
        return (
            "Yuki accepted this key, but it has no rights on the Accounting web service. In Yuki, "
            "edit the key (Settings → Web services), tick Accounting, and try again."
        )
    if isinstance(error, ReauthRequired):
        return "Yuki did not accept this key. Check that you copied the whole web-service access key."
    if isinstance(error, RateLimited):
        return (
            "This Yuki domain has used up today's web-service calls. Nothing was saved; try again "
            "after midnight (Amsterdam time)."
        )
    return "Yuki is not answering properly right now. Nothing was saved; try again in a few minutes."

"""Connecting Ponto: the one-time link becomes a consent request, the callback becomes a connection.

`begin` uses the connect link up, stores a one-time `state` (hashed; ≥128 bits; 10 minutes;
bound to the workspace and Slack user) with its PKCE verifier (encrypted), and returns Ponto's
consent URL. `complete` accepts the callback only from the same browser (the state is also in a cookie set
by `begin`'s redirect; checked first, so a foreign browser cannot use the state up) with that
state, unused and unexpired, then exchanges the code,
reads the organisation's name and stores the tokens encrypted. Any refusal stores nothing.
"""

from __future__ import annotations

import datetime as dt
import hmac
import logging
from dataclasses import dataclass, replace

from bot.clock import Clock
from bot.domain import AuditOutcome, Provider
from bot.errors import NotConnected, ProviderError, SecretUnreadable
from bot.providers.base import Alerts, Audit, Links
from bot.providers.connections import ConnectionService
from bot.providers.ponto.api import TokenSet, UserInfo, new_code_verifier
from bot.providers.ponto.plugin import PontoConfig, PontoGateway
from bot.providers.ponto.tokens import REAUTH_ALERT
from storage import oauth_states as queries
from storage.crypto import SecretBox, one_time_token, token_hash
from storage.database import Database
from storage.models import OAuthState

log = logging.getLogger(__name__)

STATE_TTL = dt.timedelta(minutes=10)
PRUNE_AFTER = dt.timedelta(days=1)
AGAIN = "Start again from Slack with `/cashbot connect ponto`."

# Why a callback was refused: (short code for the audit trail, what the person reads).
REFUSALS = {
    "missing_state": "The answer from Ponto is incomplete, so nothing was connected. " + AGAIN,
    "unknown_state": "This connection attempt is not known to cashbot, so nothing was connected. " + AGAIN,
    "used_state": "This connection attempt was already finished, so nothing more was done. " + AGAIN,
    "expired_state": "This connection attempt took longer than 10 minutes and has expired. " + AGAIN,
    "foreign_state": (
        "This connection attempt was started in another browser. For your safety nothing was "
        "connected. " + AGAIN + " Open the link in the browser you use for Ponto."
    ),
    "access_denied": "Access was not granted in Ponto, so nothing was connected. " + AGAIN,
    "unreadable_state": "cashbot could not read its record of this attempt (were its keys changed?). "
    + AGAIN,
    "no_code": "Ponto answered without an authorization code, so nothing was connected. " + AGAIN,
    "provider_error": "Ponto could not complete the connection, so nothing was stored. Try again in a while.",
}


@dataclass(frozen=True)
class ConsentStart:
    """Where to send the browser, and the state to bind to it."""

    url: str
    state: str


@dataclass(frozen=True)
class ConsentResult:
    """How a callback ended; `team_id`/`user_id` are known when the state was ours."""

    ok: bool
    code: str
    message: str
    team_id: str | None = None
    user_id: str | None = None
    organization: str | None = None


@dataclass(frozen=True)
class _Claimed:
    """A used-up state: whose it was, its verifier, or why it cannot be used after all."""

    workspace_id: int
    team_id: str
    user_id: str
    verifier: str = ""
    refusal: str | None = None


class PontoConsent:
    """The two halves of connecting Ponto through the browser."""

    def __init__(
        self,
        config: PontoConfig,
        gateway: PontoGateway,
        *,
        database: Database,
        box: SecretBox,
        links: Links,
        connections: ConnectionService,
        alerts: Alerts,
        audit: Audit,
        clock: Clock,
    ) -> None:
        self._config = config
        self._gateway = gateway
        self._database = database
        self._box = box
        self._links = links
        self._connections = connections
        self._alerts = alerts
        self._audit = audit
        self._clock = clock

    async def begin(self, link_token: str) -> ConsentStart:
        """Use the link up and prepare the consent request (LinkInvalid when the link is not usable)."""
        grant = await self._links.consume(link_token, Provider.PONTO)
        state, verifier = one_time_token(), new_code_verifier()
        now = self._clock.now()
        async with self._database.write() as session:
            await queries.delete_expired_states(session, now - PRUNE_AFTER)
            queries.add_state(
                session,
                OAuthState(
                    provider=Provider.PONTO.value,
                    state_hash=token_hash(state),
                    workspace_id=grant.workspace_id,
                    slack_user_id=grant.slack_user_id,
                    code_verifier=self._box.encrypt(verifier, purpose=_verifier_purpose(state)),
                    created_at=now,
                    expires_at=now + STATE_TTL,
                ),
            )
        await self._audit.record(
            team_id=grant.team_id, actor=grant.slack_user_id, action="connect.ponto.consent_started"
        )
        url = self._gateway.oauth().authorization_url(
            redirect_uri=self._config.redirect_uri, scope=self._config.scopes, state=state, verifier=verifier
        )
        return ConsentStart(url, state)

    async def complete(
        self, *, state: str | None, code: str | None, error: str | None, browser_state: str | None
    ) -> ConsentResult:
        """Turn Ponto's callback into a connection, or refuse it and store nothing."""
        if not state:
            return await self._refused("missing_state", None)
        if not browser_state or not hmac.compare_digest(browser_state.encode(), state.encode()):
            # Checked before the state is claimed: a callback URL opened in another browser must
            # not use up the state of the person whose browser is still on its way back.
            owner = await self._owner(state)
            if isinstance(owner, str):
                return await self._refused(owner, None)
            return await self._refused("foreign_state", owner)
        claimed = await self._claim(state)
        if isinstance(claimed, str):
            return await self._refused(claimed, None)
        if claimed.refusal is not None:
            return await self._refused(claimed.refusal, claimed)
        if error:
            return await self._refused(
                "access_denied" if error == "access_denied" else "provider_error", claimed, error
            )
        if not code:
            return await self._refused("no_code", claimed)
        try:
            tokens = await self._gateway.oauth().exchange_code(
                code, claimed.verifier, self._config.redirect_uri
            )
        except ProviderError as failure:
            return await self._refused("provider_error", claimed, failure.code or type(failure).__name__)
        try:
            info = await self._gateway.oauth().userinfo(tokens.access_token)
        except ProviderError as failure:
            await self._revoke_quietly(tokens)
            return await self._refused("provider_error", claimed, failure.code or type(failure).__name__)
        return await self._connected(claimed, tokens, info)

    async def _owner(self, state: str) -> _Claimed | str:
        """Whose state this is, without touching it; a refusal code when it is unknown or used."""
        async with self._database.read() as session:
            found = await queries.state_with_team(session, token_hash(state), Provider.PONTO.value)
            if found is None:
                return "unknown_state"
            row, team_id = found
            if row.used_at is not None:
                return "used_state"  # finished already (its cookie is gone): nothing left to protect
            return _Claimed(row.workspace_id or 0, team_id, row.slack_user_id or "")

    async def _claim(self, state: str) -> _Claimed | str:
        """Use the state up (atomically); a refusal code alone when it is unknown or already used."""
        digest, now = token_hash(state), self._clock.now()
        async with self._database.write() as session:
            found = await queries.state_with_team(session, digest, Provider.PONTO.value)
            if found is None:
                return "unknown_state"
            row, team_id = found
            # Read everything first: the UPDATE below also updates this loaded row.
            row_id, sealed, used_at, expires_at = row.id, row.code_verifier, row.used_at, row.expires_at
            workspace_id, user_id = row.workspace_id or 0, row.slack_user_id or ""
            if used_at is not None:
                return "used_state"
            if not await queries.use_state(session, row_id, now):
                return "used_state"
        owner = _Claimed(workspace_id, team_id, user_id)
        if expires_at <= now:
            return replace(owner, refusal="expired_state")
        try:
            return replace(owner, verifier=self._box.decrypt(sealed or "", purpose=_verifier_purpose(state)))
        except SecretUnreadable:
            return replace(owner, refusal="unreadable_state")

    async def _connected(self, claimed: _Claimed, tokens: TokenSet, info: UserInfo) -> ConsentResult:
        replaced = await self._stored_refresh_token(claimed.workspace_id)
        await self._connections.save(
            claimed.workspace_id,
            Provider.PONTO,
            {
                "access_token": tokens.access_token,
                "refresh_token": tokens.refresh_token,
                "scope": tokens.scope,
                "organization_id": info.organization_id,
            },
            connected_by=claimed.user_id,
            external_id=info.organization_id,
            external_name=info.name,
            scope_key=info.organization_id,
            token_expires_at=tokens.expires_at,
        )
        if replaced and replaced != tokens.refresh_token:
            await self._revoke_replaced(replaced)  # a reconnect leaves no older grant alive at Ponto
        await self._alerts.resolve(claimed.workspace_id, REAUTH_ALERT)
        await self._audit.record(
            team_id=claimed.team_id,
            actor=claimed.user_id,
            action="connect.ponto",
            detail={"organization": info.name, "scope": tokens.scope},
        )
        log.info("ponto.connected", extra={"workspace_id": claimed.workspace_id})
        name = info.name or "your Ponto organisation"
        return ConsentResult(
            True,
            "connected",
            f"Ponto is connected for {name}. cashbot fetches the bank accounts now and keeps them in sync.",
            claimed.team_id,
            claimed.user_id,
            info.name,
        )

    async def _stored_refresh_token(self, workspace_id: int) -> str | None:
        try:
            _, credentials = await self._connections.load(workspace_id, Provider.PONTO)
        except (NotConnected, SecretUnreadable):
            return None
        token = credentials.get("refresh_token")
        return token if isinstance(token, str) else None

    async def _revoke_replaced(self, refresh_token: str) -> None:
        try:
            await self._gateway.oauth().revoke(refresh_token)
        except ProviderError as error:
            log.warning("ponto.revoke_failed", extra={"code": error.code, "request_id": error.request_id})

    async def _refused(self, code: str, claimed: _Claimed | None, cause: str | None = None) -> ConsentResult:
        log.warning("ponto.consent_refused", extra={"reason": code, "cause": (cause or "")[:64]})
        if claimed is not None:
            # A callback with no state we issued names nobody: it is logged, not chained into the
            # audit trail (anyone on the internet could otherwise fill it).
            await self._audit.record(
                team_id=claimed.team_id,
                actor=claimed.user_id,
                action="connect.ponto",
                outcome=AuditOutcome.FAILED,
                detail={"reason": code, "cause": (cause or "")[:64] or None},
            )
        return ConsentResult(
            False,
            code,
            REFUSALS[code],
            claimed.team_id if claimed else None,
            claimed.user_id if claimed else None,
        )

    async def _revoke_quietly(self, tokens: TokenSet) -> None:
        """We will not keep these tokens: take them back at Ponto too (best effort)."""
        try:
            await self._gateway.oauth().revoke(tokens.refresh_token)
        except ProviderError:
            log.warning("ponto.revoke_after_failed_connect_failed")


def _verifier_purpose(state: str) -> str:
    return f"oauth_state.code_verifier:{token_hash(state)}"

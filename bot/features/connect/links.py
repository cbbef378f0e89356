"""One-time connect links handed out in Slack: stored hashed, short-lived, bound, single use."""

from __future__ import annotations

import datetime as dt
import hmac

from bot.clock import Clock
from bot.domain import LinkGrant, Provider
from bot.errors import LinkInvalid
from storage import connect_links as queries
from storage.crypto import SecretBox, one_time_token, token_hash
from storage.database import Database
from storage.models import ConnectLink

LINK_TTL = dt.timedelta(minutes=15)


class ConnectLinks:
    """Issues, checks and uses up connect links; a newer link revokes the older live ones."""

    def __init__(
        self,
        database: Database,
        box: SecretBox,
        *,
        ttl: dt.timedelta = LINK_TTL,
        clock: Clock,
    ) -> None:
        self._database = database
        self._box = box
        self._ttl = ttl
        self._clock = clock

    async def issue(self, workspace_id: int, slack_user_id: str, provider: Provider) -> str:
        """A new link token (returned once, stored only as a hash)."""
        token = one_time_token()
        now = self._clock.now()
        async with self._database.write() as session:
            await queries.revoke_live_links(session, workspace_id, provider.value, now)
            queries.add_link(
                session,
                ConnectLink(
                    token_hash=token_hash(token),
                    workspace_id=workspace_id,
                    slack_user_id=slack_user_id,
                    provider=provider.value,
                    created_at=now,
                    expires_at=now + self._ttl,
                ),
            )
        return token

    async def peek(self, token: str, provider: Provider) -> LinkGrant:
        """The link's grant if it is still usable; LinkInvalid (with the reason) otherwise."""
        async with self._database.read() as session:
            row = await queries.link_by_hash(session, token_hash(token or ""))
        if row is None or row[0].provider != provider.value:
            raise LinkInvalid("This link is not valid. Ask for a new one in Slack with /cashbot connect.")
        link, team_id = row
        self._check_usable(link)
        return LinkGrant(link.id, link.workspace_id, team_id, link.slack_user_id, provider)

    async def consume(self, token: str, provider: Provider) -> LinkGrant:
        """Use the link up (atomically: of two concurrent uses, one wins)."""
        grant = await self.peek(token, provider)
        now = self._clock.now()
        async with self._database.write() as session:
            used = await queries.use_link(session, grant.link_id, now)
        if not used:
            raise LinkInvalid(
                "This link has already been used. Ask for a new one in Slack with /cashbot connect."
            )
        return grant

    async def stash(self, link_id: int, secret: str) -> None:
        """Keep a secret on the link, encrypted, until the link is used or expires."""
        sealed = self._box.encrypt(secret, purpose=f"connect_link.pending_secret:{link_id}")
        async with self._database.write() as session:
            await queries.set_pending_secret(session, link_id, sealed)

    async def unstash(self, link_id: int) -> str | None:
        async with self._database.read() as session:
            sealed = await queries.pending_secret(session, link_id)
        return self._box.decrypt_optional(sealed, purpose=f"connect_link.pending_secret:{link_id}")

    async def issue_csrf(self, link_id: int) -> str:
        """A CSRF token for the link's form; only its hash is kept."""
        csrf = one_time_token()
        async with self._database.write() as session:
            await queries.set_csrf(session, link_id, token_hash(csrf), self._clock.now())
        return csrf

    async def check_csrf(self, link_id: int, csrf: str | None) -> bool:
        async with self._database.read() as session:
            stored = await queries.csrf_hash(session, link_id)
        return (
            bool(csrf)
            and stored is not None
            and hmac.compare_digest(token_hash(csrf or "").encode(), stored.encode())
        )

    def _check_usable(self, link: ConnectLink) -> None:
        if link.used_at is not None:
            raise LinkInvalid(
                "This link has already been used. Ask for a new one in Slack with /cashbot connect."
            )
        if link.revoked_at is not None:
            raise LinkInvalid("A newer link replaced this one. Use the newest link, or ask for a new one.")
        if link.expires_at <= self._clock.now():
            raise LinkInvalid(
                "This link has expired (links last 15 minutes). Ask for a new one with /cashbot connect."
            )

"""One-time connect links handed out in Slack: stored hashed, short-lived, bound, single use."""

from __future__ import annotations

import datetime as dt
import hmac

from sqlalchemy import select, update

from bot.clock import Clock
from bot.domain import LinkGrant, Provider
from bot.errors import LinkInvalid
from storage.crypto import SecretBox, one_time_token, token_hash
from storage.database import Database, affected_rows
from storage.models import ConnectLink, Workspace

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
            await session.execute(
                update(ConnectLink)
                .where(
                    ConnectLink.workspace_id == workspace_id,
                    ConnectLink.provider == provider.value,
                    ConnectLink.used_at.is_(None),
                    ConnectLink.revoked_at.is_(None),
                )
                .values(revoked_at=now, pending_secret=None)
            )
            session.add(
                ConnectLink(
                    token_hash=token_hash(token),
                    workspace_id=workspace_id,
                    slack_user_id=slack_user_id,
                    provider=provider.value,
                    created_at=now,
                    expires_at=now + self._ttl,
                )
            )
        return token

    async def peek(self, token: str, provider: Provider) -> LinkGrant:
        """The link's grant if it is still usable; LinkInvalid (with the reason) otherwise."""
        async with self._database.read() as session:
            row = (
                await session.execute(
                    select(ConnectLink, Workspace.team_id)
                    .join(Workspace, Workspace.id == ConnectLink.workspace_id)
                    .where(ConnectLink.token_hash == token_hash(token or ""))
                )
            ).one_or_none()
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
            result = await session.execute(
                update(ConnectLink)
                .where(
                    ConnectLink.id == grant.link_id,
                    ConnectLink.used_at.is_(None),
                    ConnectLink.revoked_at.is_(None),
                    ConnectLink.expires_at > now,
                )
                .values(used_at=now, pending_secret=None)
            )
        if affected_rows(result) != 1:
            raise LinkInvalid(
                "This link has already been used. Ask for a new one in Slack with /cashbot connect."
            )
        return grant

    async def stash(self, link_id: int, secret: str) -> None:
        """Keep a secret on the link, encrypted, until the link is used or expires."""
        sealed = self._box.encrypt(secret, purpose=f"connect_link.pending_secret:{link_id}")
        async with self._database.write() as session:
            await session.execute(
                update(ConnectLink).where(ConnectLink.id == link_id).values(pending_secret=sealed)
            )

    async def unstash(self, link_id: int) -> str | None:
        async with self._database.read() as session:
            sealed = (
                await session.execute(select(ConnectLink.pending_secret).where(ConnectLink.id == link_id))
            ).scalar_one_or_none()
        return self._box.decrypt_optional(sealed, purpose=f"connect_link.pending_secret:{link_id}")

    async def issue_csrf(self, link_id: int) -> str:
        """A CSRF token for the link's form; only its hash is kept."""
        csrf = one_time_token()
        async with self._database.write() as session:
            await session.execute(
                update(ConnectLink)
                .where(ConnectLink.id == link_id)
                .values(csrf_hash=token_hash(csrf), opened_at=self._clock.now())
            )
        return csrf

    async def check_csrf(self, link_id: int, csrf: str | None) -> bool:
        async with self._database.read() as session:
            stored = (
                await session.execute(select(ConnectLink.csrf_hash).where(ConnectLink.id == link_id))
            ).scalar_one_or_none()
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

"""Bolt's installation and OAuth-state stores, on our tables, with every token encrypted."""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from slack_sdk.oauth.installation_store import Bot, Installation
from slack_sdk.oauth.installation_store.async_installation_store import AsyncInstallationStore
from slack_sdk.oauth.state_store.async_state_store import AsyncOAuthStateStore
from sqlalchemy import delete, select, update

from storage.crypto import SecretBox, one_time_token, token_hash
from storage.database import Database, affected_rows
from storage.models import OAuthState, SlackBot, SlackInstallation
from storage.workspaces import delete_slack_tokens, ensure_workspace

log = logging.getLogger(__name__)

INSTALLATION_SECRETS = (
    "bot_token",
    "bot_refresh_token",
    "user_token",
    "user_refresh_token",
    "incoming_webhook_url",
)
BOT_SECRETS = ("bot_token", "bot_refresh_token")


def _key(value: str | None) -> str:
    return value or ""


def _epoch_to_utc(value: int | float | None) -> dt.datetime | None:
    return None if value is None else dt.datetime.fromtimestamp(value, dt.UTC)


def _utc_to_epoch(value: dt.datetime | None) -> int | None:
    return None if value is None else int(value.timestamp())


class EncryptedInstallationStore(AsyncInstallationStore):
    """slack-sdk's AsyncInstallationStore contract over `slack_installation` and `slack_bot`.

    Saving an installation also creates (or revives) the workspace row in the same transaction.
    """

    def __init__(self, database: Database, box: SecretBox, client_id: str, default_timezone: str) -> None:
        self._database = database
        self._box = box
        self._client_id = client_id
        self._default_timezone = default_timezone

    @property
    def logger(self) -> logging.Logger:
        return log

    def _purpose(self, team_key: str, column: str) -> str:
        return f"slack.{column}:{team_key}"

    def _seal(self, row: Any, values: dict[str, Any], secrets: tuple[str, ...]) -> None:
        team_key = values.get("team_key", "")
        for name, value in values.items():
            if name in secrets:
                value = self._box.encrypt_optional(value, purpose=self._purpose(team_key, name))
            setattr(row, name, value)

    def _open(self, row: Any, name: str) -> str | None:
        return self._box.decrypt_optional(getattr(row, name), purpose=self._purpose(row.team_key, name))

    async def async_save(self, installation: Installation) -> None:
        values = _installation_values(installation, self._client_id, self._database.clock.now())
        async with self._database.write() as session:
            row = (
                await session.execute(
                    select(SlackInstallation).where(
                        SlackInstallation.client_id == self._client_id,
                        SlackInstallation.enterprise_key == values["enterprise_key"],
                        SlackInstallation.team_key == values["team_key"],
                        SlackInstallation.user_id == installation.user_id,
                    )
                )
            ).scalar_one_or_none() or SlackInstallation()
            self._seal(row, values, INSTALLATION_SECRETS)
            session.add(row)
            if installation.team_id:
                await ensure_workspace(
                    session,
                    installation.team_id,
                    timezone=self._default_timezone,
                    name=installation.team_name,
                    installed_by_user_id=installation.user_id,
                    enterprise_id=installation.enterprise_id,
                )
        if installation.bot_token:
            await self.async_save_bot(installation.to_bot())

    async def async_save_bot(self, bot: Bot) -> None:
        values = _bot_values(bot, self._client_id, self._database.clock.now())
        async with self._database.write() as session:
            row = (
                await session.execute(
                    select(SlackBot).where(
                        SlackBot.client_id == self._client_id,
                        SlackBot.enterprise_key == values["enterprise_key"],
                        SlackBot.team_key == values["team_key"],
                    )
                )
            ).scalar_one_or_none() or SlackBot()
            self._seal(row, values, BOT_SECRETS)
            session.add(row)

    async def async_find_bot(
        self,
        *,
        enterprise_id: str | None,
        team_id: str | None,
        is_enterprise_install: bool | None = False,
    ) -> Bot | None:
        if is_enterprise_install:
            team_id = None
        async with self._database.read() as session:
            row = (
                await session.execute(
                    select(SlackBot).where(
                        SlackBot.client_id == self._client_id,
                        SlackBot.enterprise_key == _key(enterprise_id),
                        SlackBot.team_key == _key(team_id),
                    )
                )
            ).scalar_one_or_none()
        return None if row is None else self._bot_from_row(row)

    async def async_find_installation(
        self,
        *,
        enterprise_id: str | None,
        team_id: str | None,
        user_id: str | None = None,
        is_enterprise_install: bool | None = False,
    ) -> Installation | None:
        if is_enterprise_install:
            team_id = None
        query = select(SlackInstallation).where(
            SlackInstallation.client_id == self._client_id,
            SlackInstallation.enterprise_key == _key(enterprise_id),
            SlackInstallation.team_key == _key(team_id),
        )
        if user_id is not None:
            query = query.where(SlackInstallation.user_id == user_id)
        query = query.order_by(SlackInstallation.installed_at.desc()).limit(1)
        async with self._database.read() as session:
            row = (await session.execute(query)).scalar_one_or_none()
        if row is None:
            return None
        installation = self._installation_from_row(row)
        # As slack-sdk's own stores do: a user's older install carries the newest bot token.
        latest_bot = await self.async_find_bot(
            enterprise_id=enterprise_id,
            team_id=team_id,
            is_enterprise_install=is_enterprise_install,
        )
        if latest_bot is not None and installation.bot_token != latest_bot.bot_token:
            installation.bot_id = latest_bot.bot_id
            installation.bot_user_id = latest_bot.bot_user_id
            installation.bot_token = latest_bot.bot_token
            installation.bot_scopes = latest_bot.bot_scopes
            installation.bot_refresh_token = latest_bot.bot_refresh_token
            installation.bot_token_expires_at = latest_bot.bot_token_expires_at
        return installation

    async def async_delete_bot(self, *, enterprise_id: str | None, team_id: str | None) -> None:
        async with self._database.write() as session:
            await session.execute(
                delete(SlackBot).where(
                    SlackBot.client_id == self._client_id,
                    SlackBot.enterprise_key == _key(enterprise_id),
                    SlackBot.team_key == _key(team_id),
                )
            )

    async def async_delete_installation(
        self, *, enterprise_id: str | None, team_id: str | None, user_id: str | None = None
    ) -> None:
        async with self._database.write() as session:
            await delete_slack_tokens(session, _key(team_id), None if user_id is None else [user_id])

    async def async_delete_all(self, *, enterprise_id: str | None, team_id: str | None) -> None:
        async with self._database.write() as session:
            await delete_slack_tokens(session, _key(team_id))

    def _bot_from_row(self, row: SlackBot) -> Bot:
        return Bot(
            app_id=row.app_id,
            enterprise_id=row.enterprise_key or None,
            enterprise_name=row.enterprise_name,
            team_id=row.team_key or None,
            team_name=row.team_name,
            bot_token=self._open(row, "bot_token") or "",
            bot_id=row.bot_id or "",
            bot_user_id=row.bot_user_id or "",
            bot_scopes=row.bot_scopes or "",
            bot_refresh_token=self._open(row, "bot_refresh_token"),
            bot_token_expires_at=_utc_to_epoch(row.bot_token_expires_at),
            is_enterprise_install=row.is_enterprise_install,
            installed_at=row.installed_at.timestamp(),
        )

    def _installation_from_row(self, row: SlackInstallation) -> Installation:
        return Installation(
            app_id=row.app_id,
            enterprise_id=row.enterprise_key or None,
            enterprise_name=row.enterprise_name,
            enterprise_url=row.enterprise_url,
            team_id=row.team_key or None,
            team_name=row.team_name,
            bot_token=self._open(row, "bot_token"),
            bot_id=row.bot_id,
            bot_user_id=row.bot_user_id,
            bot_scopes=row.bot_scopes or "",
            bot_refresh_token=self._open(row, "bot_refresh_token"),
            bot_token_expires_at=_utc_to_epoch(row.bot_token_expires_at),
            user_id=row.user_id,
            user_token=self._open(row, "user_token"),
            user_scopes=row.user_scopes or "",
            user_refresh_token=self._open(row, "user_refresh_token"),
            user_token_expires_at=_utc_to_epoch(row.user_token_expires_at),
            incoming_webhook_url=self._open(row, "incoming_webhook_url"),
            incoming_webhook_channel=row.incoming_webhook_channel,
            incoming_webhook_channel_id=row.incoming_webhook_channel_id,
            incoming_webhook_configuration_url=row.incoming_webhook_configuration_url,
            is_enterprise_install=row.is_enterprise_install,
            token_type=row.token_type,
            installed_at=row.installed_at.timestamp(),
        )


def _scopes(value: Any) -> str | None:
    if value is None:
        return None
    return value if isinstance(value, str) else ",".join(value)


def _bot_values(bot: Bot, client_id: str, now: dt.datetime) -> dict[str, Any]:
    return {
        "client_id": client_id,
        "app_id": bot.app_id,
        "enterprise_key": _key(bot.enterprise_id),
        "enterprise_name": bot.enterprise_name,
        "team_key": _key(bot.team_id),
        "team_name": bot.team_name,
        "bot_token": bot.bot_token,
        "bot_id": bot.bot_id,
        "bot_user_id": bot.bot_user_id,
        "bot_scopes": _scopes(bot.bot_scopes),
        "bot_refresh_token": bot.bot_refresh_token,
        "bot_token_expires_at": _epoch_to_utc(bot.bot_token_expires_at),
        "is_enterprise_install": bool(bot.is_enterprise_install),
        "installed_at": now,
    }


def _installation_values(installation: Installation, client_id: str, now: dt.datetime) -> dict[str, Any]:
    return {
        "client_id": client_id,
        "app_id": installation.app_id,
        "enterprise_key": _key(installation.enterprise_id),
        "enterprise_name": installation.enterprise_name,
        "enterprise_url": installation.enterprise_url,
        "team_key": _key(installation.team_id),
        "team_name": installation.team_name,
        "user_id": installation.user_id,
        "is_enterprise_install": bool(installation.is_enterprise_install),
        "token_type": installation.token_type,
        "bot_token": installation.bot_token,
        "bot_id": installation.bot_id,
        "bot_user_id": installation.bot_user_id,
        "bot_scopes": _scopes(installation.bot_scopes),
        "bot_refresh_token": installation.bot_refresh_token,
        "bot_token_expires_at": _epoch_to_utc(installation.bot_token_expires_at),
        "user_token": installation.user_token,
        "user_scopes": _scopes(installation.user_scopes),
        "user_refresh_token": installation.user_refresh_token,
        "user_token_expires_at": _epoch_to_utc(installation.user_token_expires_at),
        "incoming_webhook_url": installation.incoming_webhook_url,
        "incoming_webhook_channel": installation.incoming_webhook_channel,
        "incoming_webhook_channel_id": installation.incoming_webhook_channel_id,
        "incoming_webhook_configuration_url": installation.incoming_webhook_configuration_url,
        "installed_at": now,
    }


class DatabaseOAuthStateStore(AsyncOAuthStateStore):
    """One-time, expiring Slack OAuth `state` values, stored hashed in `oauth_state`."""

    def __init__(self, database: Database, expiration_seconds: int = 600) -> None:
        self._database = database
        self._ttl = dt.timedelta(seconds=expiration_seconds)

    @property
    def logger(self) -> logging.Logger:
        return log

    async def async_issue(self, *args: Any, **kwargs: Any) -> str:
        state = one_time_token()
        now = self._database.clock.now()
        async with self._database.write() as session:
            session.add(
                OAuthState(
                    provider="slack",
                    state_hash=token_hash(state),
                    created_at=now,
                    expires_at=now + self._ttl,
                )
            )
        return state

    async def async_consume(self, state: str) -> bool:
        now = self._database.clock.now()
        async with self._database.write() as session:
            result = await session.execute(
                update(OAuthState)
                .where(
                    OAuthState.provider == "slack",
                    OAuthState.state_hash == token_hash(state),
                    OAuthState.used_at.is_(None),
                    OAuthState.expires_at > now,
                )
                .values(used_at=now)
            )
        return affected_rows(result) == 1

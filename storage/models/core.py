"""Tables of the core: workspaces, Slack installs, links, connections, runs, alerts, audit."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from storage.models.base import Base, UTCDateTime, clock_now, encrypted_text


def workspace_fk() -> ForeignKey:
    """A cascading reference to the owning workspace: uninstall removes the rows."""
    return ForeignKey("workspace.id", ondelete="CASCADE")


class Workspace(Base):
    """A Slack workspace that installed cashbot, with its preferences."""

    __tablename__ = "workspace"

    id: Mapped[int] = mapped_column(primary_key=True)
    team_id: Mapped[str] = mapped_column(String(32), unique=True)
    enterprise_id: Mapped[str | None] = mapped_column(String(32))
    name: Mapped[str | None] = mapped_column(String(255))
    timezone: Mapped[str] = mapped_column(String(64))
    locale: Mapped[str | None] = mapped_column(String(16))
    installed_by_user_id: Mapped[str | None] = mapped_column(String(32))
    digest_channel_id: Mapped[str | None] = mapped_column(String(32))
    digest_enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    digest_weekday: Mapped[int] = mapped_column(Integer, default=0)
    digest_time: Mapped[str] = mapped_column(String(5), default="08:00")
    alert_channel_id: Mapped[str | None] = mapped_column(String(32))
    public_channel_ids: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=clock_now)
    uninstalled_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class SlackInstallation(Base):
    """One Slack OAuth install (bot and optional user token), tokens encrypted."""

    __tablename__ = "slack_installation"
    __table_args__ = (UniqueConstraint("client_id", "enterprise_key", "team_key", "user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    client_id: Mapped[str] = mapped_column(String(64))
    app_id: Mapped[str | None] = mapped_column(String(32))
    enterprise_key: Mapped[str] = mapped_column(String(32), default="")
    enterprise_name: Mapped[str | None] = mapped_column(String(255))
    enterprise_url: Mapped[str | None] = mapped_column(String(255))
    team_key: Mapped[str] = mapped_column(String(32), default="")
    team_name: Mapped[str | None] = mapped_column(String(255))
    user_id: Mapped[str] = mapped_column(String(32))
    is_enterprise_install: Mapped[bool] = mapped_column(Boolean, default=False)
    token_type: Mapped[str | None] = mapped_column(String(32))
    bot_token: Mapped[str | None] = encrypted_text()
    bot_id: Mapped[str | None] = mapped_column(String(32))
    bot_user_id: Mapped[str | None] = mapped_column(String(32))
    bot_scopes: Mapped[str | None] = mapped_column(Text)
    bot_refresh_token: Mapped[str | None] = encrypted_text()
    bot_token_expires_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    user_token: Mapped[str | None] = encrypted_text()
    user_scopes: Mapped[str | None] = mapped_column(Text)
    user_refresh_token: Mapped[str | None] = encrypted_text()
    user_token_expires_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    incoming_webhook_url: Mapped[str | None] = encrypted_text()
    incoming_webhook_channel: Mapped[str | None] = mapped_column(String(255))
    incoming_webhook_channel_id: Mapped[str | None] = mapped_column(String(32))
    incoming_webhook_configuration_url: Mapped[str | None] = mapped_column(Text)
    installed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=clock_now)


class SlackBot(Base):
    """The latest bot token per workspace, as Bolt's authorize step looks it up."""

    __tablename__ = "slack_bot"
    __table_args__ = (UniqueConstraint("client_id", "enterprise_key", "team_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    client_id: Mapped[str] = mapped_column(String(64))
    app_id: Mapped[str | None] = mapped_column(String(32))
    enterprise_key: Mapped[str] = mapped_column(String(32), default="")
    enterprise_name: Mapped[str | None] = mapped_column(String(255))
    team_key: Mapped[str] = mapped_column(String(32), default="")
    team_name: Mapped[str | None] = mapped_column(String(255))
    bot_token: Mapped[str | None] = encrypted_text()
    bot_id: Mapped[str | None] = mapped_column(String(32))
    bot_user_id: Mapped[str | None] = mapped_column(String(32))
    bot_scopes: Mapped[str | None] = mapped_column(Text)
    bot_refresh_token: Mapped[str | None] = encrypted_text()
    bot_token_expires_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    is_enterprise_install: Mapped[bool] = mapped_column(Boolean, default=False)
    installed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=clock_now)


class OAuthState(Base):
    """A one-time OAuth `state` (stored hashed) with the PKCE verifier it belongs to."""

    __tablename__ = "oauth_state"

    id: Mapped[int] = mapped_column(primary_key=True)
    provider: Mapped[str] = mapped_column(String(16))
    state_hash: Mapped[str] = mapped_column(String(64), unique=True)
    workspace_id: Mapped[int | None] = mapped_column(workspace_fk())
    slack_user_id: Mapped[str | None] = mapped_column(String(32))
    code_verifier: Mapped[str | None] = encrypted_text()
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=clock_now)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, index=True)
    used_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class ConnectLink(Base):
    """A one-time link handed out in Slack to connect a provider (stored hashed)."""

    __tablename__ = "connect_link"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    workspace_id: Mapped[int] = mapped_column(workspace_fk(), index=True)
    slack_user_id: Mapped[str] = mapped_column(String(32))
    provider: Mapped[str] = mapped_column(String(16))
    csrf_hash: Mapped[str | None] = mapped_column(String(64))
    pending_secret: Mapped[str | None] = encrypted_text()
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=clock_now)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    opened_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    used_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class Connection(Base):
    """A workspace's link to Ponto or Yuki: state, encrypted credentials, health."""

    __tablename__ = "connection"
    __table_args__ = (UniqueConstraint("workspace_id", "provider"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = mapped_column(workspace_fk())
    provider: Mapped[str] = mapped_column(String(16))
    state: Mapped[str] = mapped_column(String(16))
    credentials: Mapped[str | None] = encrypted_text()
    external_id: Mapped[str | None] = mapped_column(String(128))
    external_name: Mapped[str | None] = mapped_column(String(255))
    scope_key: Mapped[str | None] = mapped_column(String(128))
    settings: Mapped[str | None] = mapped_column(Text)
    token_expires_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    consent_expires_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    last_attempt_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    last_success_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    last_error_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    last_error_code: Mapped[str | None] = mapped_column(String(64))
    last_error_message: Mapped[str | None] = mapped_column(Text)
    consecutive_failures: Mapped[int] = mapped_column(Integer, default=0)
    version: Mapped[int] = mapped_column(Integer, default=1)
    refresh_lock_owner: Mapped[str | None] = mapped_column(String(128))
    refresh_lock_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    connected_by_user_id: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=clock_now)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=clock_now, onupdate=clock_now)


class SyncRun(Base):
    """One attempt to sync a connection: when, what it fetched, how it ended."""

    __tablename__ = "sync_run"
    __table_args__ = (
        Index("ix_sync_run_workspace_provider_started", "workspace_id", "provider", "started_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = mapped_column(workspace_fk())
    connection_id: Mapped[int | None] = mapped_column(ForeignKey("connection.id", ondelete="SET NULL"))
    provider: Mapped[str] = mapped_column(String(16))
    trigger: Mapped[str] = mapped_column(String(16))
    started_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=clock_now)
    finished_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    outcome: Mapped[str] = mapped_column(String(16))
    items_fetched: Mapped[int] = mapped_column(Integer, default=0)
    items_written: Mapped[int] = mapped_column(Integer, default=0)
    api_calls: Mapped[int] = mapped_column(Integer, default=0)
    error_code: Mapped[str | None] = mapped_column(String(64))
    error_message: Mapped[str | None] = mapped_column(Text)
    details: Mapped[str | None] = mapped_column(Text)


class SyncRequest(Base):
    """A sync someone asked for (the "Sync now" button); a worker claims and runs it."""

    __tablename__ = "sync_request"
    __table_args__ = (
        # At most one request waiting or running per workspace, whichever process enqueues it.
        Index(
            "uq_sync_request_pending",
            "workspace_id",
            unique=True,
            sqlite_where=text("finished_at IS NULL"),
            postgresql_where=text("finished_at IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = mapped_column(workspace_fk(), index=True)
    provider: Mapped[str | None] = mapped_column(String(16))
    requested_by_user_id: Mapped[str | None] = mapped_column(String(32))
    channel_id: Mapped[str | None] = mapped_column(String(32))
    response_url: Mapped[str | None] = encrypted_text()
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=clock_now)
    not_before: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    claimed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    claimed_by: Mapped[str | None] = mapped_column(String(128))
    finished_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, index=True)
    outcome: Mapped[str | None] = mapped_column(String(16))
    # How to show the fresh figures to whoever asked: their locale, and whether the message they
    # clicked was posted in the channel.
    requester_locale: Mapped[str | None] = mapped_column(String(16))
    in_channel: Mapped[bool] = mapped_column(Boolean, default=False)


class Alert(Base):
    """Something a workspace's alert channel must hear about, once per dedupe key."""

    __tablename__ = "alert"
    __table_args__ = (UniqueConstraint("workspace_id", "dedupe_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = mapped_column(workspace_fk())
    kind: Mapped[str] = mapped_column(String(64))
    dedupe_key: Mapped[str] = mapped_column(String(255))
    severity: Mapped[str] = mapped_column(String(16), default="warning")
    title: Mapped[str] = mapped_column(String(255))
    detail: Mapped[str | None] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String(16), default="open")
    occurrences: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=clock_now)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=clock_now, onupdate=clock_now)
    sent_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    resolved_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    channel_id: Mapped[str | None] = mapped_column(String(32))
    message_ts: Mapped[str | None] = mapped_column(String(32))


class DigestRun(Base):
    """The Monday digest for one workspace and period; the unique key makes it happen once."""

    __tablename__ = "digest_run"
    __table_args__ = (UniqueConstraint("workspace_id", "period_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = mapped_column(workspace_fk())
    period_key: Mapped[str] = mapped_column(String(32))
    state: Mapped[str] = mapped_column(String(16), default="claimed")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=clock_now)
    posted_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    channel_id: Mapped[str | None] = mapped_column(String(32))
    message_ts: Mapped[str | None] = mapped_column(String(32))


class AccessGrant(Base):
    """A workspace member allowed to see financial data, and who allowed it."""

    __tablename__ = "access_grant"
    __table_args__ = (UniqueConstraint("workspace_id", "slack_user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = mapped_column(workspace_fk())
    slack_user_id: Mapped[str] = mapped_column(String(32))
    granted_by_user_id: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=clock_now)


class AuditEvent(Base):
    """Append-only, hash-chained record of who saw or changed what.

    Rows keep the team id rather than a foreign key so the trail outlives an uninstall.
    """

    __tablename__ = "audit_event"
    __table_args__ = (UniqueConstraint("chain", "seq"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    chain: Mapped[str] = mapped_column(String(64))
    seq: Mapped[int] = mapped_column(Integer)
    occurred_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    team_id: Mapped[str | None] = mapped_column(String(32))
    actor: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(64))
    outcome: Mapped[str] = mapped_column(String(16))
    channel_id: Mapped[str | None] = mapped_column(String(32))
    detail: Mapped[str] = mapped_column(Text)
    prev_hash: Mapped[str] = mapped_column(String(64))
    row_hash: Mapped[str] = mapped_column(String(64))


class JobLease(Base):
    """A named lease: the worker holding it is the leader until it expires."""

    __tablename__ = "job_lease"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    owner: Mapped[str] = mapped_column(String(128))
    acquired_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class SlackEventReceipt(Base):
    """Event ids already handled, so Slack's retries have one effect."""

    __tablename__ = "slack_event_receipt"

    event_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    received_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=clock_now, index=True)

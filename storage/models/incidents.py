"""An incident: one failing connection (or expiring consent) from first failure to recovery."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from storage.models.base import Base, UTCDateTime
from storage.models.core import workspace_fk


class Incident(Base):
    """At most one unresolved incident per workspace and subject (`ponto:reauth`, `yuki:outage`)."""

    __tablename__ = "incident"
    __table_args__ = (
        Index(
            "uq_incident_unresolved",
            "workspace_id",
            "subject",
            unique=True,
            sqlite_where=text("resolved_at IS NULL"),
            postgresql_where=text("resolved_at IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = mapped_column(workspace_fk())
    provider: Mapped[str] = mapped_column(String(16))
    subject: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(16))  # reauth | secret | outage | consent
    first_failed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    last_failed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    failures: Mapped[int] = mapped_column(Integer, default=1)
    error_code: Mapped[str | None] = mapped_column(String(64))
    opened_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)  # posted (or due to be)
    channel_id: Mapped[str | None] = mapped_column(String(32))
    updates: Mapped[int] = mapped_column(Integer, default=0)
    reminders: Mapped[int] = mapped_column(Integer, default=0)
    resolved_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    detail: Mapped[str | None] = mapped_column(Text)

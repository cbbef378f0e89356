"""Plain values shared by every layer: money, providers, connection states."""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Provider(enum.StrEnum):
    """The outside systems a workspace connects."""

    PONTO = "ponto"
    YUKI = "yuki"


class ConnectionState(enum.StrEnum):
    """Life cycle of a workspace's connection to a provider."""

    ACTIVE = "active"
    NEEDS_REAUTH = "needs_reauth"
    FAILING = "failing"
    DISCONNECTED = "disconnected"


class SyncOutcome(enum.StrEnum):
    """How a sync run ended."""

    RUNNING = "running"
    SUCCESS = "success"
    PARTIAL = "partial"
    FAILED = "failed"


class AuditOutcome(enum.StrEnum):
    """How an audited action ended (stored in audit_event.outcome, and part of each row's hash)."""

    OK = "ok"
    DENIED = "denied"  # the actor may not do this
    REFUSED = "refused"  # allowed, but not now (a sync already waiting, a cooldown)
    FAILED = "failed"


class RequestOutcome(enum.StrEnum):
    """How a "Sync now" request ended (stored in sync_request.outcome)."""

    SUCCESS = "success"
    FAILED = "failed"
    EXPIRED = "expired"  # nobody ran it while its response_url was valid


@dataclass(frozen=True, slots=True)
class Actor:
    """The Slack user behind a request, as far as cashbot needs to know them."""

    team_id: str
    user_id: str
    is_admin: bool = False
    locale: str | None = None
    tz: str | None = None


def mask_reference(reference: str | None, reference_type: str | None) -> str:
    """ "BE68 •••• 0197" for an IBAN; any other reference keeps only its last four characters."""
    compact = "".join((reference or "").split())
    if len(compact) < 8:
        return "••••" if compact else "—"
    if (reference_type or "IBAN").upper() == "IBAN" and compact[:2].isalpha():
        return f"{compact[:4].upper()} •••• {compact[-4:]}"
    return f"•••• {compact[-4:]}"


@dataclass(frozen=True)
class LinkGrant:
    """What a valid link stands for: which workspace and Slack user asked to connect what."""

    link_id: int
    workspace_id: int
    team_id: str
    slack_user_id: str
    provider: Provider

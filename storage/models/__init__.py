"""Every cashbot table, importable from one place."""

from storage.models.base import Amount, Base, UTCDateTime
from storage.models.core import (
    AccessGrant,
    Alert,
    AuditEvent,
    Connection,
    ConnectLink,
    DigestRun,
    JobLease,
    OAuthState,
    OutboxMessage,
    SlackBot,
    SlackEventReceipt,
    SlackInstallation,
    SyncRequest,
    SyncRun,
    Workspace,
)
from storage.models.incidents import Incident
from storage.models.ponto import BankAccount, BankTransaction
from storage.models.yuki import CallBudget, LedgerBalance, OpenItem, UnparsedItem

__all__ = [
    "AccessGrant",
    "Alert",
    "Amount",
    "AuditEvent",
    "BankAccount",
    "BankTransaction",
    "Base",
    "CallBudget",
    "ConnectLink",
    "Connection",
    "DigestRun",
    "Incident",
    "JobLease",
    "LedgerBalance",
    "OAuthState",
    "OpenItem",
    "OutboxMessage",
    "SlackBot",
    "SlackEventReceipt",
    "SlackInstallation",
    "SyncRequest",
    "SyncRun",
    "UTCDateTime",
    "UnparsedItem",
    "Workspace",
]

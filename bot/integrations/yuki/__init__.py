"""A client for Yuki's SOAP web services (Accounting): sessions, outstanding items, GL balances."""

from bot.integrations.yuki.client import DEFAULT_POLICY, YukiClient
from bot.integrations.yuki.faults import DEFAULT_FAULT_RULES, FaultRules, SessionRejected
from bot.integrations.yuki.models import (
    Administration,
    GLAccountBalance,
    ItemFailure,
    OutstandingItem,
    OutstandingItems,
)
from bot.integrations.yuki.session import MemorySessions, SessionStore
from bot.integrations.yuki.transport import CallGate, ResponseTooLarge

__all__ = [
    "DEFAULT_FAULT_RULES",
    "DEFAULT_POLICY",
    "Administration",
    "CallGate",
    "FaultRules",
    "GLAccountBalance",
    "ItemFailure",
    "MemorySessions",
    "OutstandingItem",
    "OutstandingItems",
    "ResponseTooLarge",
    "SessionRejected",
    "SessionStore",
    "YukiClient",
]

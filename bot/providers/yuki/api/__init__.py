"""A client for Yuki's SOAP web services (Accounting): sessions, outstanding items, GL balances."""

from bot.providers.yuki.api.client import DEFAULT_POLICY, YukiClient
from bot.providers.yuki.api.faults import DEFAULT_FAULT_RULES, FaultRules, SessionRejected
from bot.providers.yuki.api.models import (
    Administration,
    GLAccountBalance,
    ItemFailure,
    OutstandingItem,
    OutstandingItems,
)
from bot.providers.yuki.api.session import MemorySessions, SessionStore
from bot.providers.yuki.api.transport import CallGate, ResponseTooLarge

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

"""A small Ponto Connect client on httpx and authlib: OAuth with PKCE, typed JSON:API, pagination.

It knows nothing of cashbot's storage or Slack: callers hand it an httpx client (see
`transport.http_client` for mTLS) and a TokenSource, and get typed models or bot.errors types.
"""

from bot.providers.ponto.api.client import PAGE_LIMIT, PontoClient, TokenSource
from bot.providers.ponto.api.models import (
    Account,
    FinancialInstitution,
    Page,
    Synchronization,
    SyncProblem,
    Transaction,
    UnknownAttributes,
    UserInfo,
)
from bot.providers.ponto.api.oauth import PontoOAuth, TokenSet, code_challenge, new_code_verifier
from bot.providers.ponto.api.transport import Transport, http_client, ssl_context

__all__ = [
    "PAGE_LIMIT",
    "Account",
    "FinancialInstitution",
    "Page",
    "PontoClient",
    "PontoOAuth",
    "SyncProblem",
    "Synchronization",
    "TokenSet",
    "TokenSource",
    "Transaction",
    "Transport",
    "UnknownAttributes",
    "UserInfo",
    "code_challenge",
    "http_client",
    "new_code_verifier",
    "ssl_context",
]

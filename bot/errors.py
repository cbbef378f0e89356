"""One hierarchy for every error cashbot raises on purpose.

CashbotError                 base; `str(error)` is safe to log (never a secret, never a body)
├── ConfigError              a setting is missing or malformed; start-up stops with one line
├── UserError                bad input from a person; the message is shown to them as is
│   └── LinkInvalid          a one-time link or OAuth state is unknown, expired, used or foreign
├── BadRequest               a request (signed or from a browser) of a shape cashbot will not handle
│   └── TooManyRequests      one address asked too often; `retry_after` seconds
├── NotConnected             the workspace has no active connection to the provider
├── StorageUnavailable       the database cannot be reached or written
├── SecretUnreadable         a stored secret does not decrypt with the configured keys
├── BackupError              a backup cannot be made, verified or restored (storage.backup)
├── RenderError              a template renders invalid Block Kit or breaks a limit (bot.render)
└── ProviderError            an outside API (Ponto, Yuki, Slack) failed; carries code, request id
    ├── ReauthRequired       the grant or key is no longer valid: a person must reconnect
    ├── ProviderUnavailable  timeouts, connection errors, 5xx: worth retrying later
    ├── RateLimited          the provider (or our own budget) says wait; `retry_after` seconds
    └── MalformedResponse    the provider answered something we cannot parse
"""

from __future__ import annotations


class CashbotError(Exception):
    """Base of every error raised on purpose by cashbot."""


class ConfigError(CashbotError):
    """A setting is missing or malformed."""

    def __init__(self, variable: str, problem: str, fix: str) -> None:
        self.variable = variable
        self.problem = problem
        self.fix = fix
        super().__init__(f"{variable} {problem}: {fix}")


class UserError(CashbotError):
    """Bad input from a person; the message is written for them."""


class LinkInvalid(UserError):
    """A one-time link or OAuth state is unknown, expired, already used or not yours."""


class BadRequest(CashbotError):
    """A request cashbot refuses for its shape; `reason` is a short code for logs and metrics."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(f"bad request: {reason}")


class TooManyRequests(BadRequest):
    """One client address asked more often than the limit allows; try again in `retry_after` s."""

    def __init__(self, retry_after: int) -> None:
        self.retry_after = retry_after
        super().__init__("rate_limited")


class NotConnected(CashbotError):
    """The workspace has no usable connection to the provider."""

    def __init__(self, provider: str) -> None:
        self.provider = provider
        super().__init__(f"{provider} is not connected")


class StorageUnavailable(CashbotError):
    """The database cannot be reached, is read-only, or is full."""


class ConstraintViolation(CashbotError):
    """A write broke a database constraint: mostly a unique key that another process took first."""


class SecretUnreadable(CashbotError):
    """A stored secret does not decrypt with the configured keys (wrong or lost key)."""


class ProviderError(CashbotError):
    """An outside API failed. `code` is the provider's own error code when it gave one."""

    def __init__(
        self,
        provider: str,
        message: str,
        *,
        code: str | None = None,
        status: int | None = None,
        request_id: str | None = None,
    ) -> None:
        self.provider = provider
        self.code = code
        self.status = status
        self.request_id = request_id
        details = ", ".join(
            f"{k}={v}" for k, v in (("code", code), ("status", status), ("request_id", request_id)) if v
        )
        super().__init__(f"{provider}: {message}" + (f" ({details})" if details else ""))


class ReauthRequired(ProviderError):
    """The grant or key is no longer valid; a person must reconnect."""


class ProviderUnavailable(ProviderError):
    """Timeouts, connection failures and 5xx answers: try again later."""


class RateLimited(ProviderError):
    """The provider, or our own call budget, asks us to wait `retry_after` seconds."""

    def __init__(
        self,
        provider: str,
        message: str,
        *,
        retry_after: float | None = None,
        code: str | None = None,
        status: int | None = None,
        request_id: str | None = None,
    ) -> None:
        self.retry_after = retry_after
        super().__init__(provider, message, code=code, status=status, request_id=request_id)


class MalformedResponse(ProviderError):
    """The provider answered something that does not parse as the documented shape."""

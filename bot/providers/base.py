"""What each provider (Ponto, Yuki) plugs into the shared connect/disconnect/status commands."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from bot.domain import Provider
from bot.providers.connections import ConnectionView


@dataclass(frozen=True)
class DisconnectResult:
    """How a disconnect went: credentials are always deleted; revocation at the provider may fail."""

    had_connection: bool
    revoked_at_provider: bool | None  # None when the provider has nothing to revoke
    note: str | None = None


class ProviderPlugin(Protocol):
    """A provider's part in `/cashbot connect|disconnect|status`."""

    provider: Provider
    title: str

    def configuration_problem(self) -> str | None:
        """Why this server cannot connect the provider (missing settings), or None when it can."""
        ...

    async def disconnect(self, workspace_id: int) -> DisconnectResult:
        """Revoke at the provider where that exists, then delete the stored credentials."""
        ...

    async def status_facts(self, view: ConnectionView) -> list[str]:
        """Extra lines for /cashbot status (e.g. Yuki calls left today)."""
        ...

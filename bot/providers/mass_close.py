"""The mass close guard: a sync that would close most open items at once is held, not applied.

An answer that lists far fewer items than are open is more often a broken answer than a day on
which most customers paid. Unless the provider's own count of the answer agrees with what was
read, such a sync raises MassCloseHeld before anything is committed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bot.errors import MassCloseHeld

CONFIRMED = "mass_close_confirmed"
"""In a connection's settings: a person confirmed (`/cashbot sync confirm …`); the next sync applies."""


@dataclass(frozen=True)
class MassClosePolicy:
    """Hold a sync that closes more than `share` of at least `minimum` open items."""

    share: float = 0.5
    minimum: int = 20
    confirmed: bool = False

    @classmethod
    def of(cls, raw: dict[str, Any] | None) -> MassClosePolicy:
        """From a connection's settings (`mass_close_share`, `mass_close_minimum`); defaults otherwise."""
        raw = raw or {}
        share, minimum = raw.get("mass_close_share"), raw.get("mass_close_minimum")
        return cls(
            share=float(share) if isinstance(share, (int, float)) and 0 < share <= 1 else cls.share,
            minimum=minimum if isinstance(minimum, int) and minimum >= 0 else cls.minimum,
            confirmed=raw.get(CONFIRMED) is True,
        )

    def holds(self, open_before: int, closing: int) -> bool:
        return open_before >= self.minimum and closing > open_before * self.share

    def check(
        self, provider: str, kind: str, *, open_before: int, closing: int, listed: int, declared: int | None
    ) -> None:
        """Raise MassCloseHeld unless the provider's declared count matches the records read."""
        if self.confirmed or not self.holds(open_before, closing) or declared == listed:
            return
        raise MassCloseHeld(
            provider,
            f"the sync would close {closing} of {open_before} open {kind} items at once; "
            "held until a workspace admin confirms with /cashbot sync confirm",
            code="mass_close_held",
        )

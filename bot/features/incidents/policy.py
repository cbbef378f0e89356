"""When a failure is an alert: at once if a person must act, after a while if it may heal itself."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

REAUTH = "reauth"
SECRET = "secret"  # noqa: S105 - an incident kind, not a password
OUTAGE = "outage"
CONSENT = "consent"
ACT_NOW = frozenset({REAUTH, SECRET, CONSENT})


@dataclass(frozen=True)
class AlertPolicy:
    """A self-healing failure (5xx, timeout, 429) is an alert once it lasted this long or this many runs."""

    after: dt.timedelta = dt.timedelta(minutes=30)
    after_runs: int = 2

    def due(self, kind: str, failures: int, first_failed_at: dt.datetime, now: dt.datetime) -> bool:
        if kind in ACT_NOW:
            return True
        return failures >= self.after_runs or now - first_failed_at >= self.after


def kind_of(error_code: str | None, needs_reauth: bool) -> str:
    """The incident kind of a failed run: the connection's state says whether a person must act."""
    if needs_reauth:
        return REAUTH
    if error_code == "secret_unreadable":
        return SECRET
    return OUTAGE

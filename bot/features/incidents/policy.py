"""When a failure is an alert: at once if a person must act, after a while if it may heal itself."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

REAUTH = "reauth"
SECRET = "secret"  # noqa: S105 - an incident kind, not a password
OUTAGE = "outage"
CONSENT = "consent"
HELD = "held"  # the mass close guard held a sync: a person confirms or looks at the books
ACT_NOW = frozenset({REAUTH, SECRET, CONSENT, HELD})


@dataclass(frozen=True)
class AlertPolicy:
    """A self-healing failure (5xx, timeout, 429) is an alert once it has lasted `after`, as a second
    failed run at least that long after the first one shows; one blip is never an alert.

    With hourly syncs nothing would look again for an hour, so the worker re-checks a lone failure
    once `after` has passed (`recheck_due`): an outage is known within the threshold and a tick.
    """

    after: dt.timedelta = dt.timedelta(minutes=30)
    after_runs: int = 2

    def due(self, kind: str, failures: int, first_failed_at: dt.datetime, now: dt.datetime) -> bool:
        if kind in ACT_NOW:
            return True
        return failures >= self.after_runs and now - first_failed_at >= self.after

    def recheck_due(
        self, kind: str, first_failed_at: dt.datetime, last_failed_at: dt.datetime, now: dt.datetime
    ) -> bool:
        """A failure not yet confirmed by a run made after the threshold, whose threshold has passed."""
        if kind in ACT_NOW:
            return False
        return now - first_failed_at >= self.after and last_failed_at - first_failed_at < self.after


def kind_of(error_code: str | None, needs_reauth: bool) -> str:
    """The incident kind of a failed run: the connection's state says whether a person must act."""
    if needs_reauth:
        return REAUTH
    if error_code == "secret_unreadable":
        return SECRET
    if error_code == "mass_close_held":
        return HELD
    return OUTAGE

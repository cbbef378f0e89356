"""Posts a job's outcome to the ops channel once (outbox key per job and day); a failure as an alert."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from bot.clock import Clock
from storage.database import Database
from storage.ops import post_once

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Outcome:
    """What one run of an ops job found."""

    job: str
    ok: bool
    summary: str
    details: list[str] = field(default_factory=list)

    def text(self) -> str:
        head = f":white_check_mark: {self.summary}" if self.ok else f":rotating_light: *ALERT* {self.summary}"
        return "\n".join([head, *(f"• {line}" for line in self.details[:20])])


def parse_ops_channel(value: str | None) -> tuple[str | None, str] | None:
    """`C123` or `T123/C123` (to name the workspace the channel is in); None when unset."""
    if not value:
        return None
    team, _, channel = value.rpartition("/")
    return (team or None, channel)


class OpsReporter:
    """Enqueues outcomes for CASHBOT_OPS_CHANNEL; without one they are only logged."""

    def __init__(self, database: Database, ops_channel: str | None, timezone: str, *, clock: Clock) -> None:
        self._database = database
        self._target = parse_ops_channel(ops_channel)
        self._timezone = timezone
        self._clock = clock

    async def report(self, outcome: Outcome, period: str) -> bool:
        """True when the message was new (a rerun of the same job and period posts nothing)."""
        level = logging.INFO if outcome.ok else logging.ERROR
        log.log(level, "ops.%s", outcome.job, extra={"ok": outcome.ok, "summary": outcome.summary})
        if self._target is None:
            return False
        team, channel = self._target
        key = f"ops:{outcome.job}:{period}"
        kind = "ops" if outcome.ok else "alert"
        message = (key, kind, channel, {"text": outcome.text()})
        new = await post_once(self._database, team, self._timezone, message)
        if new is None:
            log.warning("ops.no_workspace", extra={"job": outcome.job})
        return bool(new)

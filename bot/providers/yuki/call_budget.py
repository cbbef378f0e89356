"""The calls cashbot allows itself per Yuki domain and day, persisted and shared by every process.

Yuki allows 1,000 web-service calls a day per domain (yuki.md §4); cashbot keeps to
YUKI_DAILY_CALL_BUDGET of them so people's other integrations keep working. The day turns at
midnight Europe/Amsterdam (Yuki's own time zone; the same clock as Brussels).
"""

from __future__ import annotations

import datetime as dt
import hashlib
from zoneinfo import ZoneInfo

from bot import metrics
from bot.clock import Clock
from bot.errors import RateLimited
from bot.providers.yuki.api import CallGate
from storage.database import Database
from storage.yuki import add_calls, calls_spent, spend_call

YUKI_DAY = ZoneInfo("Europe/Amsterdam")
PROVIDER = "yuki"


def provisional_scope(access_key: str) -> str:
    """The budget scope of a key whose domain is not known yet (during the connect form)."""
    return "key:" + hashlib.sha256(access_key.strip().encode()).hexdigest()[:32]


def domain_scope(domain_id: str) -> str:
    return "domain:" + domain_id


class DailyCallBudget:
    """Counts every call before it is made; refuses it with RateLimited once the day is spent.

    `counter` names what is counted (the provider's calls by default); the connect form uses
    a separate counter for its attempts per link.
    """

    def __init__(
        self,
        database: Database,
        limit: int,
        *,
        clock: Clock,
        timezone: ZoneInfo = YUKI_DAY,
        counter: str = PROVIDER,
    ) -> None:
        self._database = database
        self.limit = limit
        self._counter = counter
        self._clock = clock
        self._zone = timezone

    def today(self) -> dt.date:
        return self._clock.now().astimezone(self._zone).date()

    def seconds_to_reset(self) -> float:
        """Seconds until midnight in Yuki's time zone, when the count starts again."""
        local = self._clock.now().astimezone(self._zone)
        midnight = dt.datetime.combine(local.date() + dt.timedelta(days=1), dt.time(), self._zone)
        return max(1.0, (midnight - local).total_seconds())

    async def spend(self, scope: str, operation: str = "") -> int:
        """Count one call against today's budget; the calls left after it, or RateLimited."""
        async with self._database.write() as session:
            count = await spend_call(
                session, provider=self._counter, scope=scope, day=self.today(), limit=self.limit
            )
        if count is None:
            raise RateLimited(
                PROVIDER,
                f"today's budget of {self.limit} Yuki calls is spent"
                + (f" (refused {operation})" if operation else ""),
                retry_after=self.seconds_to_reset(),
                code="budget_spent",
            )
        _report_left(scope, self.limit - count)
        return self.limit - count

    def gate(self, scope: str) -> CallGate:
        """A gate for YukiClient: every request it sends is counted against `scope` first."""

        async def through(operation: str) -> None:
            await self.spend(scope, operation)

        return through

    async def remaining(self, scope: str) -> int:
        async with self._database.read() as session:
            spent = await calls_spent(session, provider=self._counter, scope=scope, day=self.today())
        _report_left(scope, max(0, self.limit - spent))
        return max(0, self.limit - spent)

    async def charge(self, scope: str, calls: int) -> None:
        """Count calls already made under another scope (the connect form's) against this one."""
        if calls <= 0:
            return
        async with self._database.write() as session:
            await add_calls(session, provider=self._counter, scope=scope, day=self.today(), calls=calls)

    async def exhaust(self, scope: str) -> None:
        """Yuki itself said the domain's limit is reached: stop calling until tomorrow."""
        async with self._database.write() as session:
            await add_calls(
                session,
                provider=self._counter,
                scope=scope,
                day=self.today(),
                calls=self.limit,
                at_least=True,
            )


def _report_left(scope: str, left: int) -> None:
    """The calls left of a Yuki domain, for /metrics (a connect form's provisional scope is not kept)."""
    if scope.startswith("domain:"):
        metrics.CALLS_LEFT_TODAY.labels(PROVIDER, scope.removeprefix("domain:")).set(left)

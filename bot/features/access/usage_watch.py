"""Unusual access to financial data: someone paging through every overdue invoice, or many refusals.

Counters live in the report cache's windows (shared through Redis when it is configured); crossing
a threshold records an alert, once per hour per subject (the alert's dedupe key), and tells the
listeners, which send it by DM to the workspace's admins and managers (never to a channel).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from bot.clock import Clock
from bot.features.alerts import AlertService
from bot.features.report_cache import ReportCache

log = logging.getLogger(__name__)

# (workspace id, dedupe key, title): told once per new unusual-access alert (the DMs to managers).
UnusualListener = Callable[[int, str, str], Awaitable[object]]


@dataclass(frozen=True)
class WatchLimits:
    """When access counts as unusual."""

    window_seconds: float = 3600
    all_pages_min: int = 5  # paging through every page of a result this long is "pulling everything"
    pages_per_window: int = 40  # overdue pages one person views in the window
    refusals_per_window: int = 5  # refused requests in a workspace in the window


class UsageWatch:
    """Counts views and refusals; raises an `unusual_access` alert when a limit is crossed."""

    def __init__(
        self,
        cache: ReportCache,
        alerts: AlertService,
        limits: WatchLimits | None = None,
        *,
        clock: Clock,
    ) -> None:
        self._cache = cache
        self._alerts = alerts
        self.limits = limits or WatchLimits()
        self._clock = clock
        self._listeners: list[UnusualListener] = []

    def on_unusual(self, listener: UnusualListener) -> None:
        self._listeners.append(listener)

    async def page_viewed(
        self, workspace_id: int, user_id: str, query_key: str, page: int, pages: int, items: int
    ) -> None:
        """One page of an overdue listing was shown to `user_id`."""
        window = self.limits.window_seconds
        base = f"watch:{workspace_id}:{user_id}"
        seen = await self._cache.remember(f"{base}:pages:{query_key}", str(page), window)
        total = await self._cache.count(f"{base}:pages", window)
        if pages >= self.limits.all_pages_min and seen >= pages:
            await self._raise(
                workspace_id,
                f"pages:{user_id}",
                f"<@{user_id}> paged through every overdue invoice ({items} in {pages} pages)",
                {"user": user_id, "pages": pages, "invoices": items},
            )
        elif total == self.limits.pages_per_window:
            await self._raise(
                workspace_id,
                f"volume:{user_id}",
                f"<@{user_id}> viewed {total} pages of overdue invoices within the hour",
                {"user": user_id, "pages_viewed": total},
            )

    async def refused(self, workspace_id: int, user_id: str) -> None:
        """Someone without access asked for financial data."""
        count = await self._cache.count(f"watch:{workspace_id}:refusals", self.limits.window_seconds)
        if count == self.limits.refusals_per_window:
            await self._raise(
                workspace_id,
                "refusals",
                f"{count} requests for financial data were refused within the hour (latest by <@{user_id}>)",
                {"refusals": count, "latest_user": user_id},
            )

    async def _raise(self, workspace_id: int, subject: str, title: str, detail: dict[str, object]) -> None:
        hour = self._clock.now().strftime("%Y-%m-%dT%H")
        raised = await self._alerts.raise_alert(
            workspace_id,
            kind="unusual_access",
            dedupe_key=f"unusual_access:{subject}:{hour}",
            title=title,
            detail=detail,
        )
        if raised:
            log.warning("access.unusual", extra={"workspace_id": workspace_id, "subject": subject})
            for listener in self._listeners:
                try:
                    await listener(workspace_id, f"unusual_access:{subject}:{hour}", title)
                except Exception:  # telling the managers must never fail the request being watched
                    log.exception("access.unusual_listener_failed")

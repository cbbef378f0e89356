"""Who is asking: the Actor behind a request (admin flag, locale, timezone), from users.info, cached."""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from slack_sdk.web.async_client import AsyncWebClient

from bot.domain import Actor

log = logging.getLogger(__name__)

FRESH_SECONDS = 600  # an admin flag may lag by this much; users.info is rate-limited (Tier 4)
RETRY_SECONDS = 30
LOOKUP_TIMEOUT_SECONDS = 2  # whole seconds: the client takes an int
MAX_CACHED = 5000


class ActorDirectory:
    """users.info, cached per workspace and user."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._cache: OrderedDict[tuple[str, str], tuple[float, Actor]] = OrderedDict()
        self._clock = clock

    async def actor(self, client: AsyncWebClient, team_id: str, user_id: str) -> Actor:
        key = (team_id, user_id)
        cached = self._cache.get(key)
        if cached is not None and cached[0] > self._clock():
            return cached[1]
        actor, ttl = await self._lookup(client, team_id, user_id)
        self._cache[key] = (self._clock() + ttl, actor)
        self._cache.move_to_end(key)
        while len(self._cache) > MAX_CACHED:
            self._cache.popitem(last=False)
        return actor

    async def _lookup(self, client: AsyncWebClient, team_id: str, user_id: str) -> tuple[Actor, float]:
        # Inside a command's 3 seconds: a short timeout and no waiting out a 429 (the shared client
        # would sleep through Retry-After); on failure the person is treated as a non-admin briefly.
        lean = AsyncWebClient(token=client.token, base_url=client.base_url, timeout=LOOKUP_TIMEOUT_SECONDS)
        try:
            response = await lean.users_info(user=user_id, include_locale=True)
        except Exception as error:  # best effort by design: any failure means "not known to be an admin"
            log.warning("slack.users_info_failed", extra={"team_id": team_id, "error": type(error).__name__})
            return Actor(team_id, user_id), RETRY_SECONDS
        user: dict[str, Any] = response.get("user") or {}
        is_admin = bool(user.get("is_admin") or user.get("is_owner") or user.get("is_primary_owner"))
        return Actor(
            team_id, user_id, is_admin=is_admin, locale=user.get("locale"), tz=user.get("tz")
        ), FRESH_SECONDS

    def forget(self, team_id: str) -> None:
        for key in [k for k in self._cache if k[0] == team_id]:
            del self._cache[key]

"""Outbound HTTP done carefully: a total deadline, bounded retries with full jitter, Retry-After."""

from __future__ import annotations

import asyncio
import email.utils
import logging
import math
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import httpx

from bot import log_context, metrics
from bot.errors import ProviderUnavailable

log = logging.getLogger(__name__)

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to try one logical call before giving up.

    `deadline` bounds the whole call, retries and waits included: httpx timeouts apply per
    network operation, so a server dripping one byte a second would otherwise never time out.
    """

    attempts: int = 4
    base_delay: float = 0.5
    max_delay: float = 30.0
    max_retry_after: float = 120.0
    deadline: float = 60.0
    timeout: httpx.Timeout = field(default_factory=lambda: httpx.Timeout(15.0, connect=5.0))
    retry_statuses: frozenset[int] = RETRY_STATUSES


Sleep = Callable[[float], Awaitable[None]]


def retry_after_seconds(response: httpx.Response) -> float | None:
    """The wait a Retry-After header asks for: delta-seconds or an HTTP date; None if absent.

    An HTTP date is measured against the response's own Date header (RFC 9110 §10.2.3): the
    server's clock, not ours, so a skewed local clock cannot make us wait too long or too little.
    Without a Date header an HTTP date gives None, and the caller backs off as for any 5xx.
    """
    raw = response.headers.get("retry-after")
    if not raw:
        return None
    raw = raw.strip()
    if raw.isdigit():
        return float(int(raw))
    try:
        moment = email.utils.parsedate_to_datetime(raw)
        sent = email.utils.parsedate_to_datetime(response.headers.get("date", ""))
    except (TypeError, ValueError):
        return None
    return float(max(0.0, (moment - sent).total_seconds()))


def full_jitter(attempt: int, policy: RetryPolicy, rng: Callable[[], float] = random.random) -> float:
    """AWS "full jitter": uniform in [0, min(cap, base * 2^attempt)]."""
    return rng() * min(policy.max_delay, policy.base_delay * math.pow(2, attempt))


class ResilientSender:
    """Sends one request with the policy's retries; returns the last response for the caller to map.

    Retries happen on transport errors, timeouts and `retry_statuses`. A Retry-After longer than
    `max_retry_after` ends the retries at once: the caller turns that answer into RateLimited.
    """

    def __init__(
        self,
        client: httpx.AsyncClient,
        provider: str,
        policy: RetryPolicy | None = None,
        *,
        sleep: Sleep = asyncio.sleep,
        rng: Callable[[], float] = random.random,
        request_id_header: str | None = None,
    ) -> None:
        self.client = client
        self.provider = provider
        self.policy = policy or RetryPolicy()
        self._sleep = sleep
        self._rng = rng
        self._request_id_header = request_id_header

    async def send(self, build: Callable[[], httpx.Request], *, retry: bool = True) -> httpx.Response:
        """Send the request `build()` makes (rebuilt per attempt), within the total deadline."""
        try:
            async with asyncio.timeout(self.policy.deadline):
                return await self._attempts(build, retry)
        except TimeoutError:
            raise ProviderUnavailable(self.provider, f"no answer within {self.policy.deadline:g}s") from None

    async def _attempts(self, build: Callable[[], httpx.Request], retry: bool) -> httpx.Response:
        attempts = self.policy.attempts if retry else 1
        for attempt in range(attempts):
            last = attempt == attempts - 1
            request = build()
            try:
                response = await self.client.send(request)
                await response.aread()
            except (httpx.TimeoutException, httpx.TransportError) as error:
                metrics.PROVIDER_CALLS.labels(self.provider, metrics.provider_outcome(None)).inc()
                self._note_failure(request, type(error).__name__)
                if last:
                    raise ProviderUnavailable(
                        self.provider, f"{type(error).__name__} after {attempts} attempts"
                    ) from None
                await self._wait(attempt, None, reason=type(error).__name__)
                continue
            metrics.PROVIDER_CALLS.labels(self.provider, metrics.provider_outcome(response.status_code)).inc()
            if response.status_code >= 400:
                self._note_failure(request, str(response.status_code))
            if response.status_code not in self.policy.retry_statuses or last:
                return response
            wait = retry_after_seconds(response)
            if wait is not None and wait > self.policy.max_retry_after:
                return response
            await self._wait(attempt, wait, reason=str(response.status_code), response=response)
        raise AssertionError("unreachable")  # pragma: no cover

    def _note_failure(self, request: httpx.Request, outcome: str) -> None:
        """Which call failed, for an error report of this task (the path only: never the query)."""
        log_context.note(provider_call=f"{self.provider} {request.method} {request.url.path} -> {outcome}")

    async def _wait(
        self,
        attempt: int,
        retry_after: float | None,
        *,
        reason: str,
        response: httpx.Response | None = None,
    ) -> None:
        delay = full_jitter(attempt, self.policy, self._rng)
        if retry_after is not None:
            # Never earlier than the server asked; a little jitter after it spreads the herd.
            delay = retry_after + delay / 4
        request_id = (
            response.headers.get(self._request_id_header) if response and self._request_id_header else None
        )
        log.info(
            "http.retry",
            extra={
                "provider": self.provider,
                "reason": reason,
                "attempt": attempt + 1,
                "delay": round(delay, 3),
                "request_id": request_id,
            },
        )
        await self._sleep(delay)

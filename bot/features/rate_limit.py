"""A token bucket per client address, on the injected clock, with a bound on addresses tracked."""

from __future__ import annotations

import math

from bot.clock import Clock
from bot.errors import TooManyRequests

MAX_TRACKED = 10_000  # addresses remembered at once; beyond, the least recently seen are dropped


class AddressLimiter:
    """`per_minute` requests a minute per address, in bursts of up to `per_minute`.

    The buckets live in this process: with several web processes behind a load balancer each
    allows its own share (docs/operations.md says so).
    """

    def __init__(self, per_minute: int, *, clock: Clock, max_tracked: int = MAX_TRACKED) -> None:
        self._capacity = float(per_minute)
        self._per_second = per_minute / 60.0
        self._clock = clock
        self._max_tracked = max_tracked
        self._buckets: dict[str, tuple[float, float]] = {}  # address -> (tokens, at epoch seconds)

    def spend(self, address: str) -> None:
        """Take one token for `address`; TooManyRequests (with the seconds to wait) when none is left."""
        now = self._clock.now().timestamp()
        tokens, at = self._buckets.pop(address, (self._capacity, now))
        tokens = min(self._capacity, tokens + max(0.0, now - at) * self._per_second)
        if tokens < 1.0:
            self._buckets[address] = (tokens, now)
            raise TooManyRequests(max(1, math.ceil((1.0 - tokens) / self._per_second)))
        self._buckets[address] = (tokens - 1.0, now)  # re-inserted last: the dict is in LRU order
        while len(self._buckets) > self._max_tracked:
            del self._buckets[next(iter(self._buckets))]

"""Report cache: at most `ttl` seconds stale, dropped per workspace when a sync commits; in-process or Redis.

Both backends share one interface (`ReportCache`):

- `get_or_compute(scope, key, compute, codec)` serves a fresh value, or computes it once however many
  requests ask at the same moment (single flight). A value older than 3/4 of its TTL is still
  served while one background refresh replaces it, so a busy key never makes readers wait, and
  nothing served is ever older than the TTL.
- `invalidate(scope)` drops every value of a workspace; a computation that started before the
  invalidation does not store its (stale) result afterwards (a generation counter guards it).
- `count(key, window)` and `remember(key, member, window)` are windowed counters for the usage watch.

Redis (`REDIS_URL`) shares values and counters between web processes; when Redis fails, values
are computed directly and counters fall back to this process, so a command never fails for it.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

import msgspec
from redis import asyncio as aioredis
from redis.exceptions import RedisError

from bot import metrics
from bot.clock import Clock

log = logging.getLogger(__name__)

T = TypeVar("T")
DEFAULT_TTL = 60.0
REFRESH_AFTER = 0.75  # of the TTL: serve, and refresh in the background
MAX_ENTRIES = 4096


class Codec(Generic[T]):
    """JSON for one type (dataclasses with Decimal, dates, tuples), typed and validated on the way back."""

    def __init__(self, kind: type[T]) -> None:
        self._encoder = msgspec.json.Encoder(decimal_format="string")
        self._decoder = msgspec.json.Decoder(kind)

    def encode(self, value: T) -> bytes:
        return self._encoder.encode(value)

    def decode(self, data: bytes) -> T:
        return self._decoder.decode(data)


class ReportCache(Protocol):
    """What the report services need from a cache."""

    async def get_or_compute(
        self, scope: str, key: str, compute: Callable[[], Awaitable[T]], codec: Codec[T]
    ) -> T: ...

    async def invalidate(self, scope: str) -> None: ...

    async def count(self, key: str, window: float) -> int: ...

    async def remember(self, key: str, member: str, window: float) -> int: ...

    async def aclose(self) -> None: ...


@dataclass
class _Entry:
    stored_at: float
    generation: int
    value: Any


class _Windows:
    """Windowed counters and sets in this process (the usage watch's fallback)."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._counts: OrderedDict[str, tuple[float, int]] = OrderedDict()
        self._sets: OrderedDict[str, tuple[float, set[str]]] = OrderedDict()

    def count(self, key: str, window: float) -> int:
        now = self._clock()
        started, value = self._counts.get(key, (now, 0))
        if now - started > window:
            started, value = now, 0
        self._counts[key] = (started, value + 1)
        self._counts.move_to_end(key)
        _trim(self._counts)
        return value + 1

    def remember(self, key: str, member: str, window: float) -> int:
        now = self._clock()
        started, members = self._sets.get(key, (now, set()))
        if now - started > window:
            started, members = now, set()
        members.add(member)
        self._sets[key] = (started, members)
        self._sets.move_to_end(key)
        _trim(self._sets)
        return len(members)


def _trim(mapping: OrderedDict[str, Any]) -> None:
    while len(mapping) > MAX_ENTRIES:
        mapping.popitem(last=False)


class _SingleFlight:
    """One computation per key at a time; late callers await the same result."""

    def __init__(self) -> None:
        self._running: dict[tuple[str, str, int], asyncio.Future[Any]] = {}
        self._background: set[asyncio.Task[Any]] = set()

    async def run(self, flight: tuple[str, str, int], compute: Callable[[], Awaitable[T]]) -> T:
        running = self._running.get(flight)
        if running is not None:
            return await asyncio.shield(running)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._running[flight] = future
        try:
            value = await compute()
        except BaseException as error:
            future.set_exception(error)
            future.exception()  # retrieved: nobody else may be waiting
            raise
        else:
            future.set_result(value)
            return value
        finally:
            del self._running[flight]

    def in_background(self, flight: tuple[str, str, int], compute: Callable[[], Awaitable[Any]]) -> None:
        if flight in self._running:
            return
        task = asyncio.create_task(self._quietly(flight, compute))
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _quietly(self, flight: tuple[str, str, int], compute: Callable[[], Awaitable[Any]]) -> None:
        try:
            await self.run(flight, compute)
        except Exception:  # a failed refresh leaves the current value until it expires
            log.warning("cache.refresh_failed", exc_info=True)

    async def drain(self) -> None:
        if self._background:
            await asyncio.gather(*self._background, return_exceptions=True)


class InProcessCache:
    """The default backend: a bounded LRU in this process."""

    def __init__(self, ttl: float = DEFAULT_TTL, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl = ttl
        self._clock = clock
        self._entries: OrderedDict[tuple[str, str], _Entry] = OrderedDict()
        self._generations: dict[str, int] = {}
        self._flights = _SingleFlight()
        self._windows = _Windows(clock)

    async def get_or_compute(
        self, scope: str, key: str, compute: Callable[[], Awaitable[T]], codec: Codec[T]
    ) -> T:
        generation = self._generations.get(scope, 0)
        entry = self._entries.get((scope, key))
        age = None if entry is None or entry.generation != generation else self._clock() - entry.stored_at
        flight = (scope, key, generation)
        if entry is not None and age is not None and age < self.ttl:
            if age >= self.ttl * REFRESH_AFTER:
                self._flights.in_background(flight, lambda: self._compute(scope, key, generation, compute))
            metrics.CACHE_LOOKUPS.labels("memory", "hit").inc()
            return entry.value  # type: ignore[no-any-return]
        metrics.CACHE_LOOKUPS.labels("memory", "miss").inc()
        return await self._flights.run(flight, lambda: self._compute(scope, key, generation, compute))

    async def _compute(self, scope: str, key: str, generation: int, compute: Callable[[], Awaitable[T]]) -> T:
        started = self._clock()
        value = await compute()
        if self._generations.get(scope, 0) == generation:
            self._entries[(scope, key)] = _Entry(started, generation, value)
            self._entries.move_to_end((scope, key))
            _trim_entries(self._entries)
        return value

    async def invalidate(self, scope: str) -> None:
        self._generations[scope] = self._generations.get(scope, 0) + 1
        for cached in [k for k in self._entries if k[0] == scope]:
            del self._entries[cached]

    async def count(self, key: str, window: float) -> int:
        return self._windows.count(key, window)

    async def remember(self, key: str, member: str, window: float) -> int:
        return self._windows.remember(key, member, window)

    async def aclose(self) -> None:
        await self._flights.drain()


def _trim_entries(entries: OrderedDict[tuple[str, str], _Entry]) -> None:
    while len(entries) > MAX_ENTRIES:
        entries.popitem(last=False)


# Store only if the workspace's generation is still the one the computation started from.
_STORE_IF_CURRENT = """
local current = redis.call('GET', KEYS[2]) or '0'
if current ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], ARGV[2], ARGV[3])
redis.call('EXPIRE', KEYS[1], ARGV[4])
return 1
"""


class RedisCache:
    """Values and counters shared through Redis; computed directly when Redis is unreachable."""

    def __init__(
        self,
        url: str,
        ttl: float = DEFAULT_TTL,
        *,
        clock: Callable[[], float],  # epoch seconds: ages are compared across processes
        client: aioredis.Redis | None = None,
        namespace: str = "",
    ) -> None:
        self._prefix = f"cashbot:{namespace}:" if namespace else "cashbot:"
        self.ttl = ttl
        self._clock = clock
        self._redis = client or aioredis.Redis.from_url(url, socket_timeout=0.5, socket_connect_timeout=0.5)
        self._store = self._redis.register_script(_STORE_IF_CURRENT)
        self._flights = _SingleFlight()
        self._local = _Windows(time.monotonic)

    def _values(self, scope: str) -> str:
        return f"{self._prefix}values:{scope}"

    def _generation(self, scope: str) -> str:
        return f"{self._prefix}generation:{scope}"

    async def get_or_compute(
        self, scope: str, key: str, compute: Callable[[], Awaitable[T]], codec: Codec[T]
    ) -> T:
        try:
            raw = await self._redis.hget(self._values(scope), key)
        except RedisError as error:
            _warn("get", error)
            metrics.CACHE_LOOKUPS.labels("redis", "error").inc()
            return await compute()
        cached = self._fresh(raw, codec)
        metrics.CACHE_LOOKUPS.labels("redis", "miss" if cached is None else "hit").inc()
        if cached is not None:
            value, age = cached
            if age >= self.ttl * REFRESH_AFTER:
                self._flights.in_background(
                    (scope, key, 0), lambda: self._compute(scope, key, compute, codec)
                )
            return value
        return await self._flights.run((scope, key, 0), lambda: self._compute(scope, key, compute, codec))

    def _fresh(self, raw: bytes | str | None, codec: Codec[T]) -> tuple[T, float] | None:
        """The stored value and its age, unless absent, expired or unreadable (then it is recomputed)."""
        if raw is None:
            return None
        stored_at, _, payload = (raw.encode() if isinstance(raw, str) else bytes(raw)).partition(b"|")
        try:
            age = self._clock() - float(stored_at)
            if not 0 <= age < self.ttl:
                return None
            return codec.decode(payload), age
        except (ValueError, msgspec.DecodeError):
            log.warning("cache.unreadable_value")
            return None

    async def _compute(self, scope: str, key: str, compute: Callable[[], Awaitable[T]], codec: Codec[T]) -> T:
        try:
            generation = (await self._redis.get(self._generation(scope))) or b"0"
        except RedisError as error:
            _warn("generation", error)
            return await compute()
        started = self._clock()
        value = await compute()
        entry = f"{started:.3f}|".encode() + codec.encode(value)
        try:
            await self._store(
                keys=[self._values(scope), self._generation(scope)],
                args=[generation, key, entry, int(self.ttl) + 1],
            )
        except RedisError as error:
            _warn("set", error)
        return value

    async def invalidate(self, scope: str) -> None:
        try:
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.incr(self._generation(scope))
                pipe.delete(self._values(scope))
                await pipe.execute()
        except RedisError as error:
            _warn("invalidate", error)  # values still expire within the TTL

    async def count(self, key: str, window: float) -> int:
        name = f"{self._prefix}count:{key}"
        try:
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.incr(name)
                pipe.expire(name, int(window), nx=True)
                value, _ = await pipe.execute()
            return int(value)
        except RedisError as error:
            _warn("count", error)
            return self._local.count(key, window)

    async def remember(self, key: str, member: str, window: float) -> int:
        name = f"{self._prefix}set:{key}"
        try:
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.sadd(name, member)
                pipe.expire(name, int(window), nx=True)
                pipe.scard(name)
                _, _, size = await pipe.execute()
            return int(size)
        except RedisError as error:
            _warn("remember", error)
            return self._local.remember(key, member, window)

    async def aclose(self) -> None:
        await self._flights.drain()
        await self._redis.aclose()


def _warn(operation: str, error: RedisError) -> None:
    log.warning("cache.redis_unavailable", extra={"operation": operation, "error": type(error).__name__})


def build_cache(
    redis_url: str | None, deployment: str, clock: Clock, ttl: float = DEFAULT_TTL
) -> ReportCache:
    """Redis when REDIS_URL is set, else this process's memory.

    `deployment` (the database URL) names the key space, so deployments sharing one Redis server
    never read each other's figures; it is hashed, so no credential in it reaches Redis.
    """
    if not redis_url:
        return InProcessCache(ttl)
    namespace = hashlib.sha256(deployment.encode()).hexdigest()[:16]
    return RedisCache(redis_url, ttl, clock=lambda: clock.now().timestamp(), namespace=namespace)

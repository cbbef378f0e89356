"""The report cache: fresh for its TTL, one computation however many ask, dropped by a sync, Redis or not."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from decimal import Decimal

import pytest

from bot.features.report_cache import Codec, InProcessCache, RedisCache, ReportCache


@dataclass(frozen=True)
class Figure:
    amount: Decimal
    label: str


CODEC = Codec(Figure)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def until(condition: Callable[[], bool], within: float = 5.0) -> None:
    async with asyncio.timeout(within):
        while not condition():
            await asyncio.sleep(0.005)


class Source:
    """Counts computations; each returns the next amount."""

    def __init__(self) -> None:
        self.calls = 0
        self.gate = asyncio.Event()
        self.gate.set()

    async def __call__(self) -> Figure:
        self.calls += 1
        await self.gate.wait()
        return Figure(Decimal(self.calls), "x")


@pytest.fixture(params=["memory", "redis"])
async def cache(request: pytest.FixtureRequest) -> AsyncIterator[tuple[ReportCache, Clock]]:
    clock = Clock()
    if request.param == "memory":
        backend: ReportCache = InProcessCache(ttl=60, clock=clock)
    else:
        backend = RedisCache("redis://127.0.0.1:6379/15", ttl=60, clock=clock)
    yield backend, clock
    await backend.aclose()


async def test_fresh_for_the_ttl_then_recomputed(cache) -> None:  # type: ignore[no-untyped-def]
    backend, clock = cache
    scope, source = uuid.uuid4().hex, Source()

    first = await backend.get_or_compute(scope, "k", source, CODEC)
    clock.now += 30
    again = await backend.get_or_compute(scope, "k", source, CODEC)
    clock.now += 31
    later = await backend.get_or_compute(scope, "k", source, CODEC)

    assert (first, again) == (Figure(Decimal(1), "x"), Figure(Decimal(1), "x"))
    assert later == Figure(Decimal(2), "x"), "never older than the TTL"


async def test_concurrent_readers_share_one_computation(cache) -> None:  # type: ignore[no-untyped-def]
    backend, _ = cache
    scope, source = uuid.uuid4().hex, Source()
    source.gate.clear()

    readers = [asyncio.create_task(backend.get_or_compute(scope, "k", source, CODEC)) for _ in range(20)]
    await until(lambda: source.calls == 1)
    # The other readers' arrival at the running computation cannot be seen from outside; on Redis
    # each first waits for its GET. Give them that moment (a reader later than it computes anew).
    await asyncio.sleep(0.2)
    source.gate.set()
    values = await asyncio.gather(*readers)

    assert source.calls == 1 and set(values) == {Figure(Decimal(1), "x")}


async def test_invalidation_drops_values_and_a_stale_computation_is_not_stored(cache) -> None:  # type: ignore[no-untyped-def]
    backend, _ = cache
    scope, source = uuid.uuid4().hex, Source()
    await backend.get_or_compute(scope, "k", source, CODEC)
    await backend.invalidate(scope)
    source.gate.clear()

    slow = asyncio.create_task(backend.get_or_compute(scope, "k", source, CODEC))
    await until(lambda: source.calls == 2)  # the computation has started
    await backend.invalidate(scope)  # a sync committed while the value was being computed
    source.gate.set()
    await slow

    assert (await backend.get_or_compute(scope, "k", source, CODEC)).amount == Decimal(3)


async def test_values_near_expiry_are_served_while_one_refresh_runs(cache) -> None:  # type: ignore[no-untyped-def]
    backend, clock = cache
    scope, source = uuid.uuid4().hex, Source()
    await backend.get_or_compute(scope, "k", source, CODEC)
    clock.now += 50

    served = await backend.get_or_compute(scope, "k", source, CODEC)
    await until(lambda: source.calls == 2)  # the one refresh ran in the background
    await asyncio.sleep(0.05)  # and had its moment to store the value it computed

    assert served.amount == Decimal(1) and source.calls == 2
    assert (await backend.get_or_compute(scope, "k", source, CODEC)).amount == Decimal(2)


async def test_windowed_counters(cache) -> None:  # type: ignore[no-untyped-def]
    backend, _ = cache
    key = uuid.uuid4().hex

    counts = [await backend.count(key, 60) for _ in range(3)]
    sizes = [await backend.remember(key, member, 60) for member in ("1", "2", "2", "3")]

    assert counts == [1, 2, 3] and sizes == [1, 2, 2, 3]


async def test_an_unreachable_redis_computes_directly() -> None:
    backend = RedisCache("redis://127.0.0.1:9/0", ttl=60, clock=lambda: 0.0)
    source = Source()
    try:
        values = [await backend.get_or_compute("s", "k", source, CODEC) for _ in range(2)]
        counted = [await backend.count("c", 60) for _ in range(2)]
        await backend.invalidate("s")
    finally:
        await backend.aclose()

    assert [v.amount for v in values] == [Decimal(1), Decimal(2)] and counted == [1, 2]

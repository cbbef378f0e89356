"""`cashbot web` with probes on the suspects of a stalled event loop, for bench_commands (`--probe`).

    python -m tests.bench.probe <summary.json>   (then the environment of `cashbot web`)

It runs the real `cashbot web` and measures, in the server process: every stall of the event loop
(a heartbeat every 5 ms; a thread samples the loop thread's stack while it is stuck), every garbage
collection, the audit group commit (the append on the loop's side, and the SQLite transaction on the
writer's thread, where WAL checkpoints happen), report computations (cache refills), rendering and
log output. The summary is written as JSON when the server stops.
"""

from __future__ import annotations

import asyncio
import atexit
import collections
import functools
import gc
import json
import logging
import sys
import threading
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

STALL = 0.05  # seconds: a stall the client would feel as a slow answer
BEAT = 0.005


class Timings:
    """Durations of one suspect: count, total, the worst, and how many took longer than STALL."""

    def __init__(self) -> None:
        self.count, self.total, self.worst, self.over = 0, 0.0, 0.0, 0

    def add(self, seconds: float) -> None:
        self.count += 1
        self.total += seconds
        self.worst = max(self.worst, seconds)
        self.over += seconds > STALL

    def summary(self) -> dict[str, float]:
        return {
            "count": self.count,
            "total_ms": round(self.total * 1000, 1),
            "worst_ms": round(self.worst * 1000, 1),
            "over_50ms": self.over,
        }


SUSPECTS: dict[str, Timings] = collections.defaultdict(Timings)
STACKS: collections.Counter[str] = collections.Counter()
_beat = [time.monotonic()]


def timed_async(name: str, owner: Any, attribute: str) -> None:
    original = getattr(owner, attribute)

    @functools.wraps(original)
    async def wrapper(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return await original(*args, **kwargs)
        finally:
            SUSPECTS[name].add(time.perf_counter() - started)

    setattr(owner, attribute, wrapper)


def timed_sync(name: str, owner: Any, attribute: str) -> None:
    original = getattr(owner, attribute)

    @functools.wraps(original)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            SUSPECTS[name].add(time.perf_counter() - started)

    setattr(owner, attribute, wrapper)


def _gc_callback(started: list[float]) -> Callable[[str, dict[str, int]], None]:
    def callback(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            started[0] = time.perf_counter()
        else:
            SUSPECTS[f"gc generation {info['generation']}"].add(time.perf_counter() - started[0])

    return callback


async def _heartbeat() -> None:
    while True:
        before = time.monotonic()
        _beat[0] = before
        await asyncio.sleep(BEAT)
        SUSPECTS["loop lag (heartbeat late)"].add(max(0.0, time.monotonic() - before - BEAT))


def _watchdog(loop_thread: int) -> None:
    """Samples the loop thread's stack once per stall, so the summary says where the loop was stuck."""
    sampled_beat = 0.0
    while True:
        time.sleep(0.01)
        beat = _beat[0]
        if time.monotonic() - beat > STALL and beat != sampled_beat:
            sampled_beat = beat
            frame = sys._current_frames().get(loop_thread)
            if frame is not None:
                frames = traceback.extract_stack(frame)[-8:]
                STACKS[
                    " < ".join(f"{Path(f.filename).name}:{f.lineno} {f.name}" for f in reversed(frames))
                ] += 1


def install() -> None:
    from slack_bolt.listener_matcher.async_builtins import AsyncBuiltinListenerMatcher

    from bot.features.audit.group_commit import AuditBatcher
    from bot.features.audit.trail import AuditTrail
    from bot.features.report_cache import InProcessCache
    from bot.render import Renderer
    from storage.sqlite_writer import SqliteBulkWriter

    timed_async("Bolt listener matchers tried", AsyncBuiltinListenerMatcher, "async_matches")
    timed_async("audit append (loop side, awaited)", AuditTrail, "record_batch")
    timed_async("audit view recorded (a request waits)", AuditBatcher, "record")
    timed_sync("audit SQLite transaction (writer thread)", SqliteBulkWriter, "_write")
    timed_async("report computed (cache refill)", InProcessCache, "_compute")
    timed_sync("template rendered", Renderer, "message")
    timed_sync("log record emitted", logging.Handler, "handle")
    gc.callbacks.append(_gc_callback([0.0]))
    threading.Thread(target=_watchdog, args=(threading.get_ident(),), daemon=True).start()
    _start_heartbeat_with_the_loop()


def _start_heartbeat_with_the_loop() -> None:
    """uvicorn creates the loop: start the heartbeat from its first callback."""
    original = asyncio.BaseEventLoop.run_forever

    def run_forever(self: asyncio.BaseEventLoop) -> None:
        self.call_soon(lambda: self.create_task(_heartbeat()))
        asyncio.BaseEventLoop.run_forever = original  # type: ignore[method-assign]
        original(self)

    asyncio.BaseEventLoop.run_forever = run_forever  # type: ignore[method-assign]


def write_summary(path: Path) -> None:
    path.write_text(
        json.dumps(
            {
                "suspects": {name: t.summary() for name, t in SUSPECTS.items()},
                "stall_stacks": STACKS.most_common(8),
            },
            indent=1,
        )
    )


def main() -> None:
    summary = Path(sys.argv[1])
    install()
    atexit.register(write_summary, summary)
    if len(sys.argv) > 2:  # a cProfile of the whole server, for the CPU each answer costs
        import cProfile

        profile = cProfile.Profile()
        profile.enable()
        atexit.register(profile.dump_stats, sys.argv[2])
    from bot.app.cli import main as cashbot

    raise SystemExit(cashbot(["web"]))


if __name__ == "__main__":
    main()

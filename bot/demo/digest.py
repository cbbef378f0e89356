"""The demo's digest step: set it up in #finance, move the clock to the moment, show what the channel gets."""

from __future__ import annotations

import datetime as dt
import zoneinfo

from bot.clock import Clock
from bot.demo.context import DemoContext
from bot.features.digest.schedule import DAYS

CHANNEL = "C0FINANCE"


class ShiftedClock:
    """Another clock moved forward by some amount: the demo runs at real time, then jumps ahead."""

    def __init__(self, base: Clock) -> None:
        self._base = base
        self._shift = dt.timedelta(0)

    def now(self) -> dt.datetime:
        return self._base.now() + self._shift

    def jump_to(self, moment: dt.datetime) -> None:
        self._shift += moment - self.now()


async def show_digest(demo: DemoContext) -> None:
    """`/cashbot digest here`, then tomorrow at 08:00 the worker posts it: message and chart PNG."""
    clock = demo.runtime.core.clock
    assert isinstance(clock, ShiftedClock)  # the demo runs on a clock it can move
    zone = zoneinfo.ZoneInfo(demo.runtime.core.settings.timezone)
    tomorrow = clock.now().astimezone(zone).date() + dt.timedelta(days=1)
    await demo.command("/cashbot", f"access public add <#{CHANNEL}|finance>", channel_id=CHANNEL)
    await demo.command("/cashbot", "digest here", channel_id=CHANNEL)
    await demo.command("/cashbot", f"digest time {DAYS[tomorrow.weekday()]} 08:00", channel_id=CHANNEL)
    clock.jump_to(dt.datetime.combine(tomorrow, dt.time(8, 0), zone))
    parts = demo.runtime.digest
    await parts.runner.tick()
    await parts.sender.drain()
    for message in demo.sim.posted(CHANNEL):
        if message.get("blocks"):
            demo.show(f"#finance at 08:00 {tomorrow.isoformat()}: the weekly digest", message)
        for shared in message.get("files") or []:
            content = demo.sim.files[shared["id"]]["content"]
            path = demo.output / "digest-chart.png"
            path.write_bytes(content)
            print(f"    [chart attached in #finance: {path} ({len(content) // 1024} kB PNG)]")
    await demo.command("/cashbot", "status", channel_id=CHANNEL)

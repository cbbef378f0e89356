"""The demo's alert step: Yuki goes down, #finance gets one alert (then its recovery), and the Home tab."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from bot.domain import Provider

if TYPE_CHECKING:
    from bot.demo.context import DemoContext

CHANNEL = "C0FINANCE"


@runtime_checkable
class _Movable(Protocol):
    """The demo's clock (bot.demo_digest.ShiftedClock): real time, jumped ahead on demand."""

    def now(self) -> dt.datetime: ...

    def jump_to(self, moment: dt.datetime) -> None: ...


async def show_alert(demo: DemoContext) -> None:
    """Two failed Yuki syncs half an hour apart make one alert; the next good sync recovers it."""
    clock, yuki = demo.runtime.core.clock, demo.simulators["yuki"]
    assert isinstance(clock, _Movable)  # the demo runs on a clock it can move
    workspace_id = await demo.runtime.services.workspaces.workspace_id(demo.slack.team_id)
    await demo.command("/cashbot", "alerts here", channel_id=CHANNEL)
    yuki.fail("http_500", times=1000)
    for _ in range(2):
        await demo.runtime.services.sync.run(workspace_id, Provider.YUKI, "schedule")
        clock.jump_to(clock.now() + dt.timedelta(minutes=31))
    await demo.runtime.digest.sender.drain()
    [alert] = [m for m in demo.sim.posted(CHANNEL) if _key(m).endswith(":opened")]
    demo.show("#finance: Yuki down for half an hour, one alert", alert)
    await show_home(demo)
    yuki.faults.clear()
    await demo.runtime.services.sync.run(workspace_id, Provider.YUKI, "schedule")
    await demo.runtime.digest.sender.drain()
    for reply in demo.sim.replies(CHANNEL, alert["ts"]):
        demo.show("#finance, in the alert's thread", reply)
    demo.show("#finance: the alert, updated", alert)


async def show_home(demo: DemoContext) -> None:
    """The admin opens cashbot's Home tab in Slack."""
    await demo.slack.event({"type": "app_home_opened", "user": "U0ADMIN", "channel": "D0HOME", "tab": "home"})
    demo.show("Home tab (U0ADMIN)", demo.sim.home_views["U0ADMIN"])


def _key(message: dict[str, object]) -> str:
    metadata = message.get("metadata")
    payload = metadata.get("event_payload") if isinstance(metadata, dict) else None
    return str(payload.get("key")) if isinstance(payload, dict) else ""

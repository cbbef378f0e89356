"""Builds incidents (alerts on the delivery path), consent and access DMs, their jobs and handlers, Home."""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from bot.app.digest import DigestParts
from bot.app.runtime import Runtime
from bot.app.worker import PeriodicJob
from bot.domain import Provider
from bot.features.access_notices import UnusualAccessNotices
from bot.features.consent_watch import ConsentWatch
from bot.features.home.content import HomeService
from bot.features.incidents.lifecycle import IncidentService
from bot.features.incidents.policy import AlertPolicy
from bot.features.sync.requests import FinishedRequest
from bot.features.sync.runner import RunOutcome
from handlers.admins import SlackAdmins
from handlers.alert_buttons import AlertButtons
from handlers.alerts import AlertCommands, AlertStatus, AlertView
from handlers.home import HOME_CHANNEL, HomeTab

INCIDENT_TICK_SECONDS = 120
CONSENT_TICK_SECONDS = 3600


@dataclass(frozen=True)
class IncidentParts:
    """What the alerts add to a process; `tick` and `consent` are the worker's jobs, for tests too."""

    service: IncidentService
    consent: ConsentWatch
    tick: Callable[[], Awaitable[None]]
    jobs: tuple[PeriodicJob, ...]


def build_incidents(runtime: Runtime, digest: DigestParts) -> IncidentParts:
    """The incident service, fed by every finished sync; its messages go through the digest's outbox."""
    view = AlertView(runtime.core.renderer)
    policy = AlertPolicy(after=dt.timedelta(minutes=runtime.core.settings.alert_after_minutes))
    service = IncidentService(
        runtime.core.database, runtime.services.connections, view.compose, runtime.core.clock, policy
    )
    runtime.services.sync.on_finished(service.sync_finished)
    tick = _incident_tick(runtime, service)
    watch = ConsentWatch(
        runtime.services.connections, service, digest.outbox, view.consent_dm, runtime.core.clock
    )
    admins = SlackAdmins(runtime.core.database, digest.clients)
    notices = UnusualAccessNotices(runtime.services.access, admins, digest.outbox, view.access_notice)
    runtime.reports.watch.on_unusual(notices.unusual)
    _register_handlers(runtime)
    jobs = (
        PeriodicJob("incidents", INCIDENT_TICK_SECONDS, tick),
        PeriodicJob("consent_watch", CONSENT_TICK_SECONDS, _ticks(watch), run_at_start=True),
    )
    return IncidentParts(service, watch, tick, jobs)


def _ticks(watch: ConsentWatch) -> Callable[[], Awaitable[None]]:
    async def consent() -> None:
        await watch.tick()

    return consent


def _incident_tick(runtime: Runtime, service: IncidentService) -> Callable[[], Awaitable[None]]:
    """Re-check lone failures past the threshold, then remind lasting incidents."""

    async def tick() -> None:
        for workspace_id, provider in await service.rechecks():
            # The run feeds back into the incident through the sync listener.
            result = await runtime.services.sync.run(workspace_id, Provider(provider), "recheck")
            if result.outcome in (RunOutcome.NOT_CONNECTED, RunOutcome.NEEDS_REAUTH):
                # Disconnected, or now waiting for a person (its own alert): the lone failure is moot.
                await service.recovered(workspace_id, provider, ("outage",))
        await service.remind()

    return tick


def _register_handlers(runtime: Runtime) -> None:
    """`/cashbot alerts`, the status section, and the alert buttons (web processes only)."""
    AlertCommands(
        database=runtime.core.database,
        workspaces=runtime.services.workspaces,
        access=runtime.services.access,
        renderer=runtime.core.renderer,
    ).register(runtime.slack.listeners)
    runtime.slack.listeners.status("Alerts", AlertStatus(runtime.core.database).lines)
    if runtime.slack.app is None:
        return
    AlertButtons(
        database=runtime.core.database,
        workspaces=runtime.services.workspaces,
        access=runtime.services.access,
        connections=runtime.services.connections,
        requests=runtime.reports.sync_requests,
        router=runtime.slack.router,
        renderer=runtime.core.renderer,
    ).register(runtime.slack.listeners)


def build_home(runtime: Runtime, digest: DigestParts) -> None:
    """The App Home tab, and its refresh after a sync asked for from it."""
    if runtime.slack.app is None:
        return
    tab = HomeTab(
        home=_home_service(runtime, digest),
        workspaces=runtime.services.workspaces,
        router=runtime.slack.router,
        requests=runtime.reports.sync_requests,
        renderer=runtime.core.renderer,
        clock=runtime.core.clock,
    )
    tab.register(runtime.slack.listeners)

    async def refresh(done: FinishedRequest) -> None:
        if done.channel_id != HOME_CHANNEL or not done.user_id:
            return  # asked for elsewhere: that place shows the result
        client = await digest.clients.for_team(done.team_id)
        await tab.publish(await runtime.slack.actors.actor(client, done.team_id, done.user_id), client)

    runtime.reports.sync_requests.on_finished(refresh)


def _home_service(runtime: Runtime, digest: DigestParts) -> HomeService:
    return HomeService(
        database=runtime.core.database,
        connections=runtime.services.connections,
        access=runtime.services.access,
        digest=digest.settings,
        cash=runtime.reports.cash,
        gate=runtime.reports.gate,
        sync_interval=dt.timedelta(minutes=runtime.core.settings.sync_interval_minutes),
    )

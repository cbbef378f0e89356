"""/cashbot digest [preview|here|off|time DAY HH:MM|timezone ZONE], the digest message, status lines."""

from __future__ import annotations

import base64
import datetime as dt
from collections.abc import Awaitable, Callable

from bot.clock import Clock
from bot.domain import Actor
from bot.errors import UserError
from bot.features.access.gate import ViewGate
from bot.features.access.rights import AccessService
from bot.features.digest import chart
from bot.features.digest.compose import Digest, DigestComposer
from bot.features.digest.runner import digest_key
from bot.features.digest.schedule import Occurrence, local_date, parse_day_time, parse_timezone
from bot.features.digest.settings import DigestSettings, DigestSettingsStore
from bot.features.digest.status import recent_runs
from bot.features.workspaces import WorkspaceService
from bot.render import Message, Renderer
from handlers.catalog import CommandSpec
from handlers.listeners import Listeners
from handlers.slash import CommandRequest, Reply
from storage.database import Database
from storage.outbox import Envelope

USAGE = (
    "Usage: `/cashbot digest` (the current setting), `/cashbot digest here`, `/cashbot digest off`, "
    "`/cashbot digest time tue 07:30`, `/cashbot digest timezone Europe/Amsterdam` or "
    "`/cashbot digest preview`."
)
NOT_ALLOWED_HERE = (
    "The digest shows figures, and this workspace does not allow figures in this channel. "
    "A manager can allow it with `/cashbot access public add #channel`, then run "
    "`/cashbot digest here` again."
)
MANAGERS_ONLY = "Only workspace admins and managers can change where and when the digest is posted."


class DigestView:
    """Renders a digest (the channel's message, or a preview) and the outbox rows that carry it."""

    def __init__(self, renderer: Renderer, clock: Clock, charts: chart.Charts) -> None:
        self._renderer = renderer
        self._clock = clock
        self._charts = charts

    def message(self, digest: Digest, locale: str | None, *, preview: bool = False) -> Message:
        return self._renderer.message(
            "digest.json.j2", d=digest, loc=locale, now=self._clock.now(), preview=preview
        )

    async def envelopes(self, digest: Digest, settings: DigestSettings) -> list[Envelope]:
        """The message, then its chart in the same channel (one outbox row each, same period)."""
        assert settings.channel_id is not None
        key = digest_key(settings.team_id, digest.period_key)
        message = self.message(digest, settings.locale)
        rows = [
            Envelope(key, settings.workspace_id, "digest", settings.channel_id, message.as_kwargs()),
        ]
        if digest.series is not None:
            png = await self._charts.draw(digest.series)
            payload = {
                "filename": f"cash-{digest.period_key}.png",
                "title": f"Cash, week of {digest.as_of.isoformat()}",
                "alt": "Daily cash over the last 8 weeks and the expected position over the next 4",
                "content_b64": base64.b64encode(png).decode(),
            }
            rows.append(
                Envelope(f"{key}:chart", settings.workspace_id, "digest:file", settings.channel_id, payload)
            )
        return rows


class DigestCommands:
    """The /cashbot digest subcommand: thin; parsing in schedule, storage in the settings store."""

    def __init__(
        self,
        *,
        workspaces: WorkspaceService,
        access: AccessService,
        gate: ViewGate,
        settings: DigestSettingsStore,
        composer: DigestComposer,
        view: DigestView,
        renderer: Renderer,
        clock: Clock,
    ) -> None:
        self._workspaces = workspaces
        self._access = access
        self._gate = gate
        self._settings = settings
        self._composer = composer
        self._view = view
        self._renderer = renderer
        self._clock = clock

    def register(self, on: Listeners) -> None:
        on.subcommand(
            "digest",
            CommandSpec(
                "/cashbot digest [preview|here|off|time mon 08:00|timezone Europe/Brussels]",
                "The weekly cash digest: where, when, and a preview",
            ),
            self.handle,
        )

    async def handle(self, request: CommandRequest, actor: Actor) -> Reply:
        workspace_id = await self._workspaces.workspace_id(request.team_id)
        words = request.args[1:]
        verb = words[0].casefold() if words else ""
        if verb == "preview" and len(words) == 1:
            return await self._preview(request, actor, workspace_id)
        if not verb:
            return self._show(await self._settings.get(workspace_id), None)
        change = self._change(words)
        policy = await self._access.policy(workspace_id)
        if not policy.can_manage(actor):
            raise UserError(MANAGERS_ONLY)
        if verb == "here" and not policy.public_allowed(request.channel_id):
            raise UserError(NOT_ALLOWED_HERE)
        lead = await change(workspace_id, request.channel_id, actor.locale)
        return self._show(await self._settings.get(workspace_id), lead)

    def _change(self, words: list[str]) -> Callable[[int, str, str | None], Awaitable[str]]:
        """Parse first (a bad value raises UserError before anything is written)."""
        verb = words[0].casefold()
        if verb == "here" and len(words) == 1:
            return self._here
        if verb == "off" and len(words) == 1:
            return self._off
        if verb == "time" and len(words) == 3:
            weekday, time = parse_day_time(words[1], words[2])
            return lambda workspace_id, _, __: self._time(workspace_id, weekday, time)
        if verb == "timezone" and len(words) == 2:
            zone = parse_timezone(words[1])
            return lambda workspace_id, _, __: self._zone(workspace_id, zone)
        raise UserError(USAGE)

    async def _here(self, workspace_id: int, channel_id: str, locale: str | None) -> str:
        await self._settings.post_here(workspace_id, channel_id, locale)
        return "The digest will be posted in this channel."

    async def _off(self, workspace_id: int, _: str, __: str | None) -> str:
        await self._settings.turn_off(workspace_id)
        return "The digest is off."

    async def _time(self, workspace_id: int, weekday: int, time: str) -> str:
        await self._settings.set_time(workspace_id, weekday, time)
        return "Schedule changed."

    async def _zone(self, workspace_id: int, zone: str) -> str:
        await self._settings.set_timezone(workspace_id, zone)
        return "Timezone changed (it is also the day /cash and /overdue count in)."

    async def _preview(self, request: CommandRequest, actor: Actor, workspace_id: int) -> Reply:
        admission = await self._gate.admit(actor, workspace_id, request.channel_id, "/cashbot digest")
        if not admission.allowed:
            return Reply(
                self._renderer.message("access_refused.json.j2", managers=admission.managers, manage=False)
            )
        settings = await self._settings.get(workspace_id)
        digest = await self._composer.compose(workspace_id, _now_occurrence(self._clock, settings))
        await self._gate.viewed(admission, {"digest": "preview", "period": digest.period_key})
        return Reply(self._view.message(digest, actor.locale or settings.locale, preview=True))

    def _show(self, settings: DigestSettings, lead: str | None) -> Reply:
        return Reply(self._renderer.message("digest_settings.json.j2", s=settings, lead=lead))


def _now_occurrence(clock: Clock, settings: DigestSettings) -> Occurrence:
    now = clock.now()
    today = local_date(now, settings.schedule.timezone)
    year, week, _ = today.isocalendar()
    return Occurrence(f"{year}-W{week:02d}", today, now)


class DigestStatus:
    """The digest's lines in /cashbot status: the schedule, a broken channel, recent and missed runs."""

    def __init__(self, database: Database, settings: DigestSettingsStore) -> None:
        self._database = database
        self._settings = settings

    async def lines(self, workspace_id: int) -> list[str]:
        settings = await self._settings.get(workspace_id)
        if not settings.enabled:
            return ["off (`/cashbot digest here` turns it on)"]
        lines = [f"every {settings.schedule.label}"]
        if settings.broken_at is not None:
            lines.append(
                f"⚠ Slack refused the channel ({settings.broken_reason}) on {_stamp(settings.broken_at)}: "
                "no digest is sent until `/cashbot digest here` is run in a channel cashbot is in"
            )
        for run in await recent_runs(self._database, workspace_id, settings.team_id):
            lines.append(_run_line(run.period_key, run.state, run.late, run.sent_at, run.error))
        return lines


def _run_line(period: str, state: str, late: bool, sent_at: dt.datetime | None, error: str | None) -> str:
    if state == "missed":
        return f"{period}: ⚠ missed (no worker was running that day)"
    if state == "sent":
        return f"{period}: sent {_stamp(sent_at)}" + (" (late)" if late else "")
    if state in ("broken", "failed"):
        return f"{period}: not sent ({error})"
    return f"{period}: waiting to be sent"


def _stamp(moment: dt.datetime | None) -> str:
    return "—" if moment is None else moment.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")

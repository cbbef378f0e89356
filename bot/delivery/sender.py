"""Sends leased outbox rows to Slack: paced per channel, retried with care, posted exactly once.

Exactly once: Slack has no idempotency key, so every message carries the row's key in its
`metadata`. A row left `sending` (its sender died, or the call timed out, so Slack may or may not
have posted it) is first looked up in the channel's recent history by that key, and only sent
again when it is not there. A file is looked up by its file id with `files.info`.
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import logging
import random
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
import httpx
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.web.async_client import AsyncWebClient

from bot import metrics
from bot.delivery.anchors import anchor_key, is_direct, is_reply, is_update
from bot.delivery.clients import NoToken, WorkspaceClients
from bot.errors import StorageUnavailable
from storage.outbox import BROKEN, FAILED, PENDING, SENDING, SENT, Claimed, Outbox

log = logging.getLogger(__name__)

MARKER_EVENT = "cashbot_outbox"
# Slack refuses these for good: retrying would fail every week. The subscription is marked broken.
BROKEN_ERRORS = frozenset(
    {
        "token_revoked",
        "token_expired",
        "invalid_auth",
        "not_authed",
        "account_inactive",
        "no_token",
        "not_installed",
        "team_access_not_granted",
        "channel_not_found",
        "is_archived",
        "not_in_channel",
        "missing_scope",
    }
)
TRANSIENT = (SlackClientError, aiohttp.ClientError, httpx.HTTPError, OSError, TimeoutError)
HISTORY_LIMIT = 100
MAX_BACKOFF_SECONDS = 1800
ANCHOR_WAIT = dt.timedelta(seconds=5)
# Slack allows about one message a second per channel; the margin absorbs network jitter, which
# could otherwise bring two posts closer together on arrival than they left.
PACE_SECONDS = 1.05

Checkpoint = Callable[[str, Claimed], Awaitable[None]]
BrokenListener = Callable[[Claimed, str], Awaitable[None]]


@dataclass
class DrainReport:
    """What one pass did (the benchmark and the logs read it)."""

    sent: int = 0
    found_already_sent: int = 0
    retried: int = 0
    broken: int = 0
    failed: int = 0


class _AnchorGone(Exception):
    """The message a row edits or replies to was never posted and never will be."""


class _LeaseLost(Exception):
    """Another sender took the row over: this one stops without settling it."""


class Pacer:
    """At most one message a second per channel (Slack's chat.postMessage limit), per process."""

    def __init__(self, seconds: float) -> None:
        self._seconds = seconds
        self._next: dict[str, float] = {}

    async def wait(self, channel_id: str) -> None:
        delay = self._next.get(channel_id, 0.0) - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)

    def posted(self, channel_id: str) -> None:
        """Counted from the answer: Slack saw the post at some moment before it, never after."""
        self._next[channel_id] = time.monotonic() + self._seconds


class Sender:
    """Drains the outbox: claims due rows, sends each channel's rows in order, settles them."""

    def __init__(
        self,
        outbox: Outbox,
        clients: WorkspaceClients,
        *,
        owner: str,
        pace_seconds: float = PACE_SECONDS,
        max_attempts: int = 8,
        batch: int = 2000,
        concurrency: int = 100,
        checkpoint: Checkpoint | None = None,
    ) -> None:
        self._outbox = outbox
        self._clients = clients
        self._owner = owner
        self._pacer = Pacer(pace_seconds)
        self._max_attempts = max_attempts
        self._batch = batch
        self._gate = asyncio.Semaphore(concurrency)
        self._checkpoint = checkpoint
        self._on_broken: list[BrokenListener] = []
        self._http = httpx.AsyncClient(timeout=30)

    def on_broken(self, listener: BrokenListener) -> None:
        self._on_broken.append(listener)

    async def aclose(self) -> None:
        await self._http.aclose()

    async def drain(self) -> DrainReport:
        """One pass over the rows due now; rows that must wait stay for a later pass."""
        report = DrainReport()
        rows = await self._outbox.claim(self._owner, self._batch)
        by_channel: dict[tuple[int, str], list[Claimed]] = defaultdict(list)
        for row in rows:
            by_channel[(row.workspace_id, row.channel_id)].append(row)
        await asyncio.gather(*(self._channel(queue, report) for queue in by_channel.values()))
        return report

    async def _channel(self, queue: list[Claimed], report: DrainReport) -> None:
        # The gate bounds calls in flight, not channels: a channel waiting out its second holds none.
        for row in queue:
            await self._pacer.wait(row.channel_id)
            async with self._gate:
                await self._deliver(row, report)

    async def _deliver(self, row: Claimed, report: DrainReport) -> None:
        try:
            await self._attempt(row, report)
        except StorageUnavailable:
            # Nothing can be recorded now; the row stays leased until its lease lapses, then is
            # taken again as it was left (a `sending` row is looked up before any resend).
            log.warning("delivery.storage_unavailable", extra={"key": row.key})
            report.retried += 1

    async def _attempt(self, row: Claimed, report: DrainReport) -> None:
        try:
            client = await self._clients.for_team(row.team_id)
            found = await self._already_posted(client, row) if row.state == SENDING else None
            if found is not None:
                # Its ts is kept: an alert's updates and thread replies are anchored to it.
                await self._outbox.sent(row, self._owner, found or None)
                report.found_already_sent += 1
                return
            await self._send(client, row, report)
        except NoToken as error:
            await self._broken(row, error.reason, report)
        except SlackApiError as error:
            await self._refused(row, error, report)
        except TRANSIENT as error:
            # The call may have reached Slack: the row stays `sending`, so it is looked up first.
            await self._later(row, type(error).__name__, report)

    async def _send(self, client: AsyncWebClient, row: Claimed, report: DrainReport) -> None:
        try:
            anchor = await self._anchor(row)
        except _AnchorGone:
            # The message it edits or replies to was never posted (refused for good): neither can it be.
            await self._outbox.give_up(row, self._owner, FAILED, "anchor_gone")
            report.failed += 1
            return
        if anchor == "":
            await self._outbox.retry_later(row, self._owner, ANCHOR_WAIT, "anchor_not_sent")
            return
        try:
            if is_update(row.kind):  # an edit posts nothing new: Slack's 1/s/channel counts posts
                ts = await self._edit(client, row, anchor)
            else:
                try:
                    ts = await self._post(client, row, anchor)
                finally:
                    self._pacer.posted(row.channel_id)
        except _LeaseLost:
            return
        await self._reached("answered", row)
        if await self._outbox.sent(row, self._owner, ts or None):
            report.sent += 1
            metrics.MESSAGES_SENT.labels(metrics.message_kind(row.kind)).inc()

    async def _post(self, client: AsyncWebClient, row: Claimed, anchor: str | None) -> str | None:
        """A message (in a thread when anchored) or a file; its ts."""
        if row.kind.endswith(":file"):
            return await self._upload(client, row)
        if not await self._outbox.attempting(row, self._owner):
            raise _LeaseLost
        await self._reached("attempting", row)
        kwargs = _message_kwargs(row) | _thread_kwargs(row, anchor)
        response = await client.chat_postMessage(channel=row.channel_id, **kwargs)
        return str(response.get("ts") or "")

    async def _edit(self, client: AsyncWebClient, row: Claimed, anchor: str | None) -> str | None:
        if not await self._outbox.attempting(row, self._owner):
            raise _LeaseLost
        await self._reached("attempting", row)
        await client.chat_update(channel=row.channel_id, ts=anchor or "", **_update_kwargs(row))
        return anchor

    async def _anchor(self, row: Claimed) -> str | None:
        """The ts this row updates or replies to (None: it stands alone); "" while that message is
        not sent yet; _AnchorGone when it never will be, or went without a known ts."""
        key = anchor_key(row.payload)
        if key is None:
            return None
        state, ts = await self._outbox.anchor(key)
        if state in (PENDING, SENDING):
            return ""
        if state == SENT and ts:
            return ts
        raise _AnchorGone(key)

    async def _upload(self, client: AsyncWebClient, row: Claimed) -> str | None:
        """Slack's external upload: ask for a URL, send the bytes there, share it in the channel."""
        content = base64.b64decode(row.payload["content_b64"])
        ticket = await client.files_getUploadURLExternal(
            filename=row.payload["filename"], length=len(content), alt_txt=row.payload.get("alt")
        )
        file_id = str(ticket["file_id"])
        if not await self._outbox.attempting(row, self._owner, file_id=file_id):
            return None
        await self._reached("attempting", row)
        uploaded = await self._http.post(str(ticket["upload_url"]), content=content)
        uploaded.raise_for_status()
        await client.files_completeUploadExternal(
            files=[{"id": file_id, "title": row.payload.get("title")}], channel_id=row.channel_id
        )
        return None

    async def _already_posted(self, client: AsyncWebClient, row: Claimed) -> str | None:
        """Did an earlier attempt reach the channel? Looked up by the row's key (or file id).

        None if not; else the message's ts ("" for a file).
        """
        if is_update(row.kind):
            return None  # an edit sent twice leaves the message as it should be
        if is_direct(row.kind):
            # Looking a DM up would need im:history, which cashbot does not ask for: a DM sent
            # twice after a crash beats one never sent.
            return None
        try:
            if row.kind.endswith(":file"):
                shared = row.file_id is not None and await _file_shared(client, row.file_id, row.channel_id)
                return "" if shared else None
            if is_reply(row.payload):
                try:
                    thread = await self._anchor(row)
                except _AnchorGone:
                    return None  # no thread, so no reply in it either
                history = await client.conversations_replies(
                    channel=row.channel_id, ts=thread or "", limit=HISTORY_LIMIT, include_all_metadata=True
                )
            else:
                history = await client.conversations_history(
                    channel=row.channel_id, limit=HISTORY_LIMIT, include_all_metadata=True
                )
        except SlackApiError as error:
            if error.response.get("error") != "missing_scope":
                raise
            # Without a history scope nothing can be looked up: a double post beats a lost one.
            log.warning("delivery.lookup_unavailable", extra={"key": row.key})
            return None
        found = [m for m in history.get("messages") or [] if _carries(m, row.key)]
        return str(found[0].get("ts") or "") if found else None

    async def _refused(self, row: Claimed, error: SlackApiError, report: DrainReport) -> None:
        code = str(error.response.get("error") or "unknown")
        status = error.response.status_code
        if code == "missing_scope" and row.kind.endswith(":file"):
            # An install from before charts: the message went, the chart cannot. Not a broken channel.
            log.warning("delivery.file_scope_missing", extra={"key": row.key})
            await self._outbox.give_up(row, self._owner, FAILED, code)
            report.failed += 1
        elif code in BROKEN_ERRORS:
            await self._broken(row, code, report)
        elif code == "ratelimited" or status == 429:
            # Refused before posting: nothing to look up. The SDK already waited its retries out.
            retry_after = _retry_after(error)
            await self._outbox.retry_later(row, self._owner, dt.timedelta(seconds=retry_after), code)
            report.retried += 1
        elif status >= 500:
            await self._later(row, f"http_{status}", report)
        else:
            log.error("delivery.refused", extra={"key": row.key, "error": code})
            await self._outbox.give_up(row, self._owner, FAILED, code)
            report.failed += 1

    async def _later(self, row: Claimed, code: str, report: DrainReport) -> None:
        if row.attempts + 1 >= self._max_attempts:
            log.error("delivery.gave_up", extra={"key": row.key, "error": code})
            await self._outbox.give_up(row, self._owner, FAILED, code)
            report.failed += 1
            return
        delay = min(MAX_BACKOFF_SECONDS, 15 * 2**row.attempts) * random.uniform(0.8, 1.2)  # noqa: S311 - jitter, not a secret
        await self._outbox.retry_later(row, self._owner, dt.timedelta(seconds=delay), code)
        report.retried += 1

    async def _broken(self, row: Claimed, code: str, report: DrainReport) -> None:
        log.warning("delivery.broken", extra={"key": row.key, "error": code})
        await self._outbox.give_up(row, self._owner, BROKEN, code)
        report.broken += 1
        for listener in self._on_broken:
            await listener(row, code)

    async def _reached(self, point: str, row: Claimed) -> None:
        if self._checkpoint is not None:
            await self._checkpoint(point, row)


def _message_kwargs(row: Claimed) -> dict[str, Any]:
    return {
        "text": row.payload.get("text") or "",
        "blocks": row.payload.get("blocks"),
        "unfurl_links": False,
        "unfurl_media": False,
        "metadata": {"event_type": MARKER_EVENT, "event_payload": {"key": row.key}},
    }


def _thread_kwargs(row: Claimed, anchor: str | None) -> dict[str, Any]:
    if not anchor:
        return {}
    return {"thread_ts": anchor, "reply_broadcast": bool(row.payload.get("broadcast"))}


def _update_kwargs(row: Claimed) -> dict[str, Any]:
    return {"text": row.payload.get("text") or "", "blocks": row.payload.get("blocks")}


def _carries(message: dict[str, Any], key: str) -> bool:
    metadata = message.get("metadata") or {}
    payload = metadata.get("event_payload") or {}
    return bool(metadata.get("event_type") == MARKER_EVENT and payload.get("key") == key)


async def _file_shared(client: AsyncWebClient, file_id: str, channel_id: str) -> bool:
    try:
        info = await client.files_info(file=file_id)
    except SlackApiError as error:
        if error.response.get("error") == "file_not_found":
            return False
        raise
    file = info.get("file") or {}
    shares = file.get("shares") or {}
    shared_in = set(file.get("channels") or [])
    for kind in ("public", "private"):
        shared_in.update((shares.get(kind) or {}).keys())
    return channel_id in shared_in


def _retry_after(error: SlackApiError) -> float:
    try:
        return max(1.0, float(error.response.headers.get("Retry-After", 30)))
    except (TypeError, ValueError):
        return 30.0


__all__ = ["SENT", "DrainReport", "Pacer", "Sender"]

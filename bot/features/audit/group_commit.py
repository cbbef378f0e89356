"""Group commit for the audit trail: every view is durable before it is answered, many views per commit.

A busy workspace answers dozens of /cash and /overdue at once; appending each view in its own
transaction would serialise them on the database's write lock (one fsync each). Here callers
queue their event and wait; one flusher appends everything queued in a single transaction and
wakes them all. Each caller still returns only after its own event is committed, so a view that
was answered is always in the trail.

After each commit the new chain heads are logged (`audit.head`): a copy of the newest hash kept
outside the database, so deleting the newest rows (which the chain alone cannot reveal) shows
as a head in the logs that the database no longer has.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from bot.domain import AuditOutcome
from bot.features.audit.trail import AuditEntry, AuditTrail

log = logging.getLogger(__name__)

MAX_BATCH = 500


class AuditBatcher:
    """Appends events to an AuditTrail in batches; `record` returns once the event is committed."""

    def __init__(self, trail: AuditTrail) -> None:
        self._trail = trail
        self._queue: list[tuple[AuditEntry, asyncio.Future[None]]] = []
        self._flusher: asyncio.Task[None] | None = None

    async def record(
        self,
        *,
        team_id: str | None,
        actor: str,
        action: str,
        outcome: AuditOutcome = AuditOutcome.OK,
        channel_id: str | None = None,
        detail: dict[str, Any] | None = None,
    ) -> None:
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queue.append((AuditEntry(team_id, actor, action, outcome, channel_id, detail), done))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush())
        await done

    async def _flush(self) -> None:
        while self._queue:
            batch, self._queue = self._queue[:MAX_BATCH], self._queue[MAX_BATCH:]
            try:
                heads = await self._trail.record_batch([entry for entry, _ in batch])
            except BaseException as error:
                for _, done in batch:
                    if not done.done():
                        done.set_exception(error)
                if not isinstance(error, Exception):
                    raise
                continue
            for head in heads.values():
                log.info("audit.head", extra={"chain": head.chain, "seq": head.seq, "hash": head.row_hash})
            for _, done in batch:
                if not done.done():
                    done.set_result(None)

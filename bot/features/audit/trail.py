"""The audit trail: append-only, hash-chained per workspace with an HMAC key kept outside the database."""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import hmac
import json
import logging
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any

from bot.clock import Clock
from bot.domain import AuditOutcome
from bot.errors import ConstraintViolation
from storage import audit as queries
from storage.database import Database, Session
from storage.models import AuditEvent

log = logging.getLogger(__name__)

GENESIS = "0" * 64
GLOBAL_CHAIN = "global"
APPEND_ATTEMPTS = 8
VERIFY_BATCH = 1000


@dataclass(frozen=True)
class AuditEntry:
    """One event to append: who did what, where, with what outcome, and the details."""

    team_id: str | None
    actor: str
    action: str
    outcome: AuditOutcome = AuditOutcome.OK
    channel_id: str | None = None
    detail: dict[str, Any] | None = None


@dataclass(frozen=True)
class ChainHead:
    """The newest row of a chain after an append (an anchor to keep outside the database)."""

    chain: str
    seq: int
    row_hash: str


@dataclass(frozen=True)
class BrokenLink:
    """The first row of a chain that does not verify, and why."""

    chain: str
    seq: int
    row_id: int | None
    reason: str


@dataclass(frozen=True)
class VerifyReport:
    """The result of walking every chain."""

    chains: int
    rows: int
    broken: list[BrokenLink]

    @property
    def ok(self) -> bool:
        return not self.broken


def _canonical(chain: str, seq: int, occurred_at: dt.datetime, fields: dict[str, Any]) -> bytes:
    body = {"chain": chain, "seq": seq, "occurred_at": occurred_at.astimezone(dt.UTC).isoformat(), **fields}
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def _fields(entry: AuditEntry) -> dict[str, Any]:
    return {
        "team_id": entry.team_id,
        "actor": entry.actor[:64],
        "action": entry.action[:64],
        "outcome": entry.outcome[:16],
        "channel_id": entry.channel_id,
        "detail": json.dumps(entry.detail or {}, sort_keys=True, default=str, ensure_ascii=False),
    }


class AuditTrail:
    """Appends events (who, what, where, outcome, detail) and verifies the chains."""

    def __init__(self, database: Database, key: str, *, clock: Clock) -> None:
        self._database = database
        self._key = key.encode()
        self._clock = clock
        # The newest (seq, hash) this process appended per chain: saves reading the head before each
        # append. A stale head collides on (chain, seq) and is re-read; and if the newest rows were
        # deleted meanwhile, the next row still links to them, so verify reports the gap.
        self._heads: dict[str, tuple[int, str]] = {}
        self._appending = asyncio.Lock()  # one append at a time per process, so cached heads hold

    def _hash(self, prev_hash: str, payload: bytes) -> str:
        return hmac.new(self._key, prev_hash.encode() + payload, hashlib.sha256).hexdigest()

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
        """Append one event to the workspace's chain (or the global chain without a workspace)."""
        await self.record_batch([AuditEntry(team_id, actor, action, outcome, channel_id, detail)])

    async def record_batch(self, entries: Sequence[AuditEntry]) -> dict[str, ChainHead]:
        """Append several events in one transaction (one commit for many views); each chain's new head."""
        by_chain: dict[str, list[dict[str, Any]]] = {}
        for entry in entries:
            by_chain.setdefault(entry.team_id or GLOBAL_CHAIN, []).append(_fields(entry))
        for _ in range(APPEND_ATTEMPTS):
            try:
                async with self._appending:
                    return await self._append(by_chain)
            except ConstraintViolation:
                for chain in by_chain:  # another process appended the same seq first; read the new head
                    self._heads.pop(chain, None)
        raise RuntimeError(f"could not append to audit chains {sorted(by_chain)}")

    async def _append(self, by_chain: dict[str, list[dict[str, Any]]]) -> dict[str, ChainHead]:
        if self._database.is_sqlite:
            return await self._append_sqlite(by_chain)
        heads: dict[str, ChainHead] = {}
        async with self._database.write() as session:
            for chain in sorted(by_chain):  # a fixed order, so two batches never wait on each other
                # Appends to one chain queue up here across processes, the head read inside.
                await queries.lock_chain(session, chain)
                start = self._heads.get(chain) or await self._head(session, chain)
                rows, heads[chain] = self._chain_rows(chain, start, by_chain[chain])
                await queries.insert_events(session, rows)
        self._remember(heads)
        return heads

    async def _append_sqlite(self, by_chain: dict[str, list[dict[str, Any]]]) -> dict[str, ChainHead]:
        """Rows chained from the cached heads, inserted in one transaction and one thread hand-off.

        Appends of this process are serialised by `_appending`; another process appending meanwhile
        makes the insert collide on (chain, seq), and record_batch retries from the fresh head.
        """
        heads: dict[str, ChainHead] = {}
        rows: list[dict[str, Any]] = []
        for chain in sorted(by_chain):
            start = self._heads.get(chain)
            if start is None:
                async with self._database.read() as session:
                    start = await self._head(session, chain)
            chain_rows, heads[chain] = self._chain_rows(chain, start, by_chain[chain])
            rows += chain_rows
        await queries.insert_events_alone(self._database, rows)
        self._remember(heads)
        return heads

    def _chain_rows(
        self, chain: str, start: tuple[int, str], entries: list[dict[str, Any]]
    ) -> tuple[list[dict[str, Any]], ChainHead]:
        seq, prev_hash = start
        rows = []
        for fields in entries:
            seq, occurred_at = seq + 1, self._clock.now()
            row_hash = self._hash(prev_hash, _canonical(chain, seq, occurred_at, fields))
            rows.append(
                {
                    "chain": chain,
                    "seq": seq,
                    "occurred_at": occurred_at,
                    "prev_hash": prev_hash,
                    "row_hash": row_hash,
                    **fields,
                }
            )
            prev_hash = row_hash
        return rows, ChainHead(chain, seq, prev_hash)

    def _remember(self, heads: dict[str, ChainHead]) -> None:
        self._heads.update({chain: (head.seq, head.row_hash) for chain, head in heads.items()})

    @staticmethod
    async def _head(session: Session, chain: str) -> tuple[int, str]:
        return await queries.chain_head(session, chain) or (0, GENESIS)

    async def verify(self) -> VerifyReport:
        """Walk every chain from its start; report the first altered, reordered or missing row of each."""
        broken: list[BrokenLink] = []
        rows = 0
        chains = await self._chains()
        for chain in chains:
            count, problem = await self._verify_chain(chain)
            rows += count
            if problem is not None:
                broken.append(problem)
        return VerifyReport(chains=len(chains), rows=rows, broken=broken)

    async def _chains(self) -> list[str]:
        async with self._database.read() as session:
            return await queries.chain_names(session)

    async def _verify_chain(self, chain: str) -> tuple[int, BrokenLink | None]:
        expected_seq, prev_hash, count = 1, GENESIS, 0
        async for row in self._rows(chain):
            count += 1
            problem = self._check(row, chain, expected_seq, prev_hash)
            if problem is not None:
                return count, problem
            expected_seq, prev_hash = row.seq + 1, row.row_hash
        return count, None

    def _check(self, row: AuditEvent, chain: str, expected_seq: int, prev_hash: str) -> BrokenLink | None:
        if row.seq != expected_seq:
            return BrokenLink(chain, expected_seq, None, f"row {expected_seq} is missing (next is {row.seq})")
        if row.prev_hash != prev_hash:
            return BrokenLink(
                chain, row.seq, row.id, "does not follow the previous row (deleted or reordered)"
            )
        fields = {
            "team_id": row.team_id,
            "actor": row.actor,
            "action": row.action,
            "outcome": row.outcome,
            "channel_id": row.channel_id,
            "detail": row.detail,
        }
        if not hmac.compare_digest(
            self._hash(prev_hash, _canonical(chain, row.seq, row.occurred_at, fields)), row.row_hash
        ):
            return BrokenLink(chain, row.seq, row.id, "content was altered")
        return None

    async def _rows(self, chain: str) -> AsyncIterator[AuditEvent]:
        last = 0
        while True:
            async with self._database.read() as session:
                batch = await queries.events_after(session, chain, last, VERIFY_BATCH)
            for row in batch:
                yield row
            if len(batch) < VERIFY_BATCH:
                return
            last = batch[-1].seq

    async def count(self, team_id: str | None = None) -> int:
        async with self._database.read() as session:
            return await queries.count_events(session, team_id)

"""Backups with a signed manifest, the restore drill that proves them, and restoring one."""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import hmac
import json
import shutil
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from bot import metrics
from bot.clock import Clock
from bot.features.audit.trail import AuditTrail
from storage.backup import (
    BackupError,
    Facts,
    backup_postgres,
    backup_sqlite,
    read_facts,
    restore_postgres,
    scratch_postgres,
    sha256_of,
    sqlite_integrity,
    sqlite_path,
)
from storage.crypto import SecretBox
from storage.database import Database
from storage.files import create_private, private_folder, write_private
from storage.rotation import sealed_values

MANIFEST_SUFFIX = ".manifest.json"


@dataclass
class Manifest:
    """What a backup file holds, signed with the audit key so it cannot be edited to match."""

    format: str
    file: str
    sha256: str
    created_at: str
    schema_revision: str | None
    row_counts: dict[str, int]
    audit_heads: dict[str, list[Any]]
    signature: str = ""

    def payload(self) -> bytes:
        body = {k: v for k, v in asdict(self).items() if k != "signature"}
        return json.dumps(body, sort_keys=True, separators=(",", ":")).encode()

    def sign(self, key: str) -> None:
        self.signature = hmac.new(key.encode(), self.payload(), hashlib.sha256).hexdigest()

    def signed_by(self, key: str) -> bool:
        expected = hmac.new(key.encode(), self.payload(), hashlib.sha256).hexdigest()
        return hmac.compare_digest(expected, self.signature)

    def save(self, path: Path) -> None:
        write_private(path, json.dumps(asdict(self), indent=2))

    @classmethod
    def load(cls, path: Path) -> Manifest:
        try:
            return cls(**json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError, TypeError) as error:
            raise BackupError(f"cannot read the manifest {path.name}: {error}") from None


@dataclass
class Check:
    """One step of the restore drill."""

    name: str
    ok: bool
    detail: str = ""


@dataclass
class DrillReport:
    """The outcome of `cashbot backup verify`."""

    checks: list[Check] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return bool(self.checks) and all(check.ok for check in self.checks)

    def add(self, name: str, ok: bool, detail: str = "") -> None:
        self.checks.append(Check(name, ok, detail))


def manifest_path(backup: Path) -> Path:
    return backup.with_name(backup.name + MANIFEST_SUFFIX)


class BackupService:
    """`cashbot backup`, `cashbot backup verify FILE`, `cashbot restore FILE`."""

    def __init__(self, database: Database, box: SecretBox, audit_key: str, *, clock: Clock) -> None:
        self._database = database
        self._clock = clock
        self._box = box
        self._audit_key = audit_key

    async def backup(self, folder: Path) -> tuple[Path, Manifest]:
        """Write `cashbot-<time>.db|.dump` and its signed manifest into `folder`."""
        await asyncio.to_thread(private_folder, folder)
        now = self._clock.now()
        stamp = now.strftime("%Y%m%dT%H%M%SZ")
        kind = "sqlite" if self._database.is_sqlite else "postgresql"
        target = folder / f"cashbot-{stamp}.{'db' if kind == 'sqlite' else 'dump'}"
        copy = backup_sqlite if kind == "sqlite" else backup_postgres
        facts = await copy(self._database, target)
        manifest = _manifest(kind, target, facts, now)
        manifest.sign(self._audit_key)
        await asyncio.to_thread(manifest.save, manifest_path(target))
        await AuditTrail(self._database, self._audit_key, clock=self._clock).record(
            team_id=None,
            actor="cli",
            action="backup.created",
            detail={"file": target.name, "rows": sum(facts.row_counts.values())},
        )
        metrics.record_backup(now.timestamp())
        return target, manifest

    async def verify(self, backup: Path, *, record: bool = True) -> DrillReport:
        """Restore into scratch and prove it: integrity, counts, audit chains, every secret decrypts."""
        started = time.monotonic()
        report = DrillReport()
        manifest = await asyncio.to_thread(Manifest.load, manifest_path(backup))
        report.add("manifest signed with CASHBOT_AUDIT_KEY", manifest.signed_by(self._audit_key))
        report.add(
            "file matches its checksum", await asyncio.to_thread(_checksum_matches, backup, manifest.sha256)
        )
        if report.ok:
            await self._drill(backup, manifest, report)
        report.seconds = time.monotonic() - started
        if report.ok and record:
            await AuditTrail(self._database, self._audit_key, clock=self._clock).record(
                team_id=None,
                actor="cli",
                action="backup.restore_verified",
                detail={"file": backup.name, "seconds": round(report.seconds, 2)},
            )
        return report

    async def _drill(self, backup: Path, manifest: Manifest, report: DrillReport) -> None:
        if manifest.format == "sqlite":
            scratch = backup.with_name(f".verify-{backup.name}")
            await asyncio.to_thread(_private_copy, backup, scratch)
            try:
                report.add(
                    "integrity_check and foreign_key_check",
                    *await asyncio.to_thread(sqlite_integrity, scratch),
                )
                await self._check_restored(f"sqlite+aiosqlite:///{scratch}", manifest, report)
            finally:
                await asyncio.to_thread(_remove_with_journals, scratch)
            return
        async with scratch_postgres(self._database.url, self._clock) as url:
            await restore_postgres(backup, url)
            report.add("pg_restore", True)
            await self._check_restored(url, manifest, report)

    async def _check_restored(self, url: str, manifest: Manifest, report: DrillReport) -> None:
        restored = Database(url, clock=self._clock)
        try:
            async with restored.engine.connect() as connection:
                facts = await read_facts(connection)
            report.add(
                "schema revision",
                facts.schema_revision == manifest.schema_revision,
                str(facts.schema_revision),
            )
            short = {t: n for t, n in manifest.row_counts.items() if facts.row_counts.get(t, -1) != n}
            report.add(
                "row counts",
                not short,
                ", ".join(f"{t}: {facts.row_counts.get(t)} != {n}" for t, n in short.items()),
            )
            chains = await AuditTrail(restored, self._audit_key, clock=self._clock).verify()
            heads = {chain: list(head) for chain, head in facts.audit_heads.items()}
            report.add(
                "audit chains verify",
                chains.ok,
                "; ".join(f"{b.chain}:{b.seq} {b.reason}" for b in chains.broken),
            )
            report.add("audit chain heads match the manifest", heads == manifest.audit_heads)
            unreadable = await _unreadable_secrets(restored, self._box)
            report.add(
                "every encrypted value decrypts with the current keys",
                unreadable == 0,
                f"{unreadable} unreadable",
            )
        finally:
            await restored.dispose()

    async def restore(self, backup: Path, *, force: bool) -> DrillReport:
        """Verify the backup, then put it in place of DATABASE_URL's database."""
        report = await self.verify(backup, record=False)
        if not report.ok:
            raise BackupError("the backup did not pass verification; nothing was restored")
        if self._database.is_sqlite:
            await _restore_sqlite(
                backup, sqlite_path(self._database), force=force, dispose=self._database.dispose
            )
        else:
            if not force:
                raise BackupError("restoring over a PostgreSQL database replaces its contents; add --force")
            await restore_postgres(backup, self._database.url)
        await AuditTrail(self._database, self._audit_key, clock=self._clock).record(
            team_id=None, actor="cli", action="backup.restored", detail={"file": backup.name}
        )
        return report


def _manifest(kind: str, target: Path, facts: Facts, created_at: dt.datetime) -> Manifest:
    return Manifest(
        format=kind,
        file=target.name,
        sha256=sha256_of(target),
        created_at=created_at.isoformat(),
        schema_revision=facts.schema_revision,
        row_counts=facts.row_counts,
        audit_heads={chain: list(head) for chain, head in facts.audit_heads.items()},
    )


def _checksum_matches(path: Path, expected: str) -> bool:
    return path.is_file() and sha256_of(path) == expected


async def _unreadable_secrets(database: Database, box: SecretBox) -> int:
    async with database.read() as session:
        return sum([1 async for value in sealed_values(session) if not box.readable(value)])


async def _restore_sqlite(
    backup: Path, target: Path, *, force: bool, dispose: Callable[[], Awaitable[None]]
) -> None:
    await dispose()
    await asyncio.to_thread(_put_in_place, backup, target, force)


def _put_in_place(backup: Path, target: Path, force: bool) -> None:
    if target.exists() and not force:
        raise BackupError(f"{target} exists; stop cashbot and add --force to replace it")
    staging = target.with_name(target.name + ".restoring")
    _private_copy(backup, staging)
    for suffix in ("-wal", "-shm"):
        target.with_name(target.name + suffix).unlink(missing_ok=True)
    staging.replace(target)


def _private_copy(source: Path, target: Path) -> None:
    create_private(target)  # copyfile truncates an existing file and keeps its mode
    shutil.copyfile(source, target)


def _remove_with_journals(path: Path) -> None:
    for leftover in path.parent.glob(path.name + "*"):
        leftover.unlink(missing_ok=True)

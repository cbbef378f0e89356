"""Readiness: can this process serve? Database reachable and writable, schema at head, disk."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bot.errors import StorageUnavailable
from storage.database import Database
from storage.migrate import current_revision, head_revision


@dataclass
class Readiness:
    """Whether the process is ready, and the reasons when it is not."""

    problems: list[str] = field(default_factory=list)

    @property
    def ready(self) -> bool:
        return not self.problems


DiskFree = Callable[[Path], int]  # free bytes on the filesystem that holds a folder


def disk_free(folder: Path) -> int:
    """The machine's answer (the process edge: tests hand HealthService their own)."""
    return shutil.disk_usage(folder).free


class HealthService:
    """Checks the things without which a command cannot be answered correctly."""

    def __init__(
        self,
        database: Database,
        min_free_disk_mb: int,
        *,
        folders: Sequence[Path] = (),
        free: DiskFree = disk_free,
    ) -> None:
        self._database = database
        self._min_free_bytes = min_free_disk_mb * 1024 * 1024
        self._head = head_revision()
        self._folders = tuple(folders)  # besides the database's: the backup folder
        self._free = free

    async def readiness(self) -> Readiness:
        result = Readiness()
        try:
            await self._check_database(result)
        except StorageUnavailable as error:
            result.problems.append(f"database unreachable: {error}")
        except Exception as error:  # a readiness probe reports, it never raises
            result.problems.append(f"database check failed: {type(error).__name__}")
        self._check_disk(result)
        return result

    async def _check_database(self, result: Readiness) -> None:
        await self._database.ping()
        revision = await current_revision(self._database)
        if revision != self._head:
            result.problems.append(
                f"migrations not at head (database {revision or 'empty'}, code {self._head}); "
                "run `cashbot migrate`"
            )
        if not await self._database.can_write():
            result.problems.append("database is read-only")

    def _check_disk(self, result: Readiness) -> None:
        path = self._database.sqlite_file()
        database_folder = path.parent if path is not None else Path.cwd()
        for folder in (database_folder, *self._folders):
            try:
                free = self._free(_existing(folder))
            except OSError:
                continue
            if free < self._min_free_bytes:
                result.problems.append(f"disk nearly full ({free // (1024 * 1024)} MB free at {folder})")
                return


def _existing(folder: Path) -> Path:
    """The folder, or its nearest existing parent (a backup folder not made yet)."""
    folder = folder.resolve()
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    return folder

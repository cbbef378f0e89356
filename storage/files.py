"""Files and folders the bot creates hold financial data: readable by their owner only."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

FILE_MODE = 0o600
FOLDER_MODE = 0o700


def private_file(path: Path) -> None:
    """Narrow an existing file to 0600 (a no-op where the filesystem has no modes)."""
    with contextlib.suppress(FileNotFoundError, PermissionError):
        if path.stat().st_mode & 0o777 != FILE_MODE:
            path.chmod(FILE_MODE)


def create_private(path: Path) -> None:
    """Create `path` empty with mode 0600 before anything is written into it (so no byte is ever
    readable by others), or narrow it if it exists."""
    os.close(os.open(path, os.O_CREAT | os.O_WRONLY, FILE_MODE))
    private_file(path)


def private_folder(path: Path) -> None:
    """Create the folder (and its parents) if missing; the folder itself is 0700."""
    path.mkdir(parents=True, exist_ok=True, mode=FOLDER_MODE)
    with contextlib.suppress(PermissionError):
        if path.stat().st_mode & 0o777 != FOLDER_MODE:
            path.chmod(FOLDER_MODE)


def write_private(path: Path, text: str) -> None:
    """Write a small text file (a manifest, an export) created 0600."""
    create_private(path)
    with path.open("w", encoding="utf-8") as handle:
        handle.write(text)

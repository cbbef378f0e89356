"""Where Yuki session ids live between calls: in memory only, keyed by a hash of the key.

A session id is as good as the access key for up to a day, so it is never written to disk.
Yuki says a session lasts 24 hours; it is reused for 23 and renewed at once when refused.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from typing import Protocol

DEFAULT_SESSION_TTL = 23 * 3600.0


class SessionStore(Protocol):
    """Remembers the session id of an access key."""

    def get(self, owner: str) -> str | None: ...

    def put(self, owner: str, session_id: str) -> None: ...

    def drop(self, owner: str, session_id: str) -> None: ...


def session_owner(base_url: str, access_key: str) -> str:
    """The store key of an access key at one Yuki host (a hash: the key itself is never kept)."""
    return hashlib.sha256(f"{base_url}\n{access_key}".encode()).hexdigest()


class MemorySessions:
    """A process-wide session cache with a time-to-live; shared by every client of a runtime."""

    def __init__(self, ttl: float = DEFAULT_SESSION_TTL, clock: Callable[[], float] = time.monotonic) -> None:
        self._ttl = ttl
        self._clock = clock
        self._sessions: dict[str, tuple[str, float]] = {}

    def get(self, owner: str) -> str | None:
        entry = self._sessions.get(owner)
        if entry is None:
            return None
        session_id, expires = entry
        if self._clock() >= expires:
            self._sessions.pop(owner, None)
            return None
        return session_id

    def put(self, owner: str, session_id: str) -> None:
        self._sessions[owner] = (session_id, self._clock() + self._ttl)

    def drop(self, owner: str, session_id: str) -> None:
        # Only the id that failed: another caller may already have put a fresh one.
        entry = self._sessions.get(owner)
        if entry is not None and entry[0] == session_id:
            del self._sessions[owner]

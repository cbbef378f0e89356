"""What the running task is doing (workspace, command, job, provider call), for logs and error reports."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from contextvars import ContextVar
from types import MappingProxyType

_FIELDS: ContextVar[Mapping[str, str]] = ContextVar("cashbot_log_context", default=MappingProxyType({}))


@contextlib.contextmanager
def bind(**fields: object) -> Iterator[None]:
    """Add `fields` (None values skipped) to the context for the length of the block."""
    added = {key: str(value) for key, value in fields.items() if value is not None}
    token = _FIELDS.set({**_FIELDS.get(), **added})
    try:
        yield
    finally:
        _FIELDS.reset(token)


def current() -> Mapping[str, str]:
    """The fields bound by the enclosing blocks of this task."""
    return _FIELDS.get()


def note(**fields: object) -> None:
    """Record `fields` until the enclosing `bind` block ends (the last failed provider call, …)."""
    added = {key: str(value) for key, value in fields.items() if value is not None}
    _FIELDS.set({**_FIELDS.get(), **added})

"""A SIGTERM/SIGINT that arrives during start-up: end the process with 0, and never lose the stop."""

from __future__ import annotations

import signal
import sys
from collections.abc import Callable
from types import FrameType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sys import UnraisableHookArgs

_requested: list[int] = []
_handed_over: list[bool] = []


def stop_cleanly_on_signals() -> None:
    """SIGTERM/SIGINT during start-up end the process with 0, unwinding every `finally` on the way.

    Installed before anything heavy is imported; the running loop (uvicorn, the worker) replaces
    it with a graceful stop once it is up.
    """
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, _stop)
    sys.unraisablehook = _quiet_about_swallowed_stops(sys.unraisablehook)


def stop_requested() -> bool:
    """Whether a stop signal arrived before the running loop took the signals over."""
    return bool(_requested)


def hand_over() -> None:
    """The running loop handles signals from now on: unraisable errors are reported again."""
    _handed_over.append(True)


def _stop(signum: int, _frame: FrameType | None) -> None:
    # Remembered first: Python ignores an exception raised while a weakref or GC callback runs
    # (seen in gc.collect() at start-up), and the stop must still happen once the loop is up.
    _requested.append(signum)
    raise SystemExit(0)


def _quiet_about_swallowed_stops(
    report: Callable[[UnraisableHookArgs], object],
) -> Callable[[UnraisableHookArgs], object]:
    """Once a stop interrupted start-up, what it leaves half-built is not an error to report.

    Its SystemExit may be swallowed by a GC callback (it is remembered and honoured later), and a
    loop it interrupted may fail to close in `__del__`; the process is on its way out either way.
    """

    def hook(unraisable: UnraisableHookArgs) -> object:
        if _requested and not _handed_over:
            return None
        return report(unraisable)

    return hook

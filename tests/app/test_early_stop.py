"""A stop signal during start-up is never lost, even when Python swallows its SystemExit."""

from __future__ import annotations

import subprocess
import sys
import textwrap

SWALLOWED_STOP = textwrap.dedent(
    """
    import gc, signal, weakref
    from bot.app.early_stop import stop_cleanly_on_signals, stop_requested

    class Thing:
        pass

    stop_cleanly_on_signals()
    thing = Thing()
    # The signal lands while a weakref callback runs: Python ignores what the handler raises.
    watcher = weakref.ref(thing, lambda _ref: signal.raise_signal(signal.SIGTERM))
    del thing
    gc.collect()
    print("still running; stop requested:", stop_requested())
    """
)


def test_a_stop_swallowed_by_a_gc_callback_is_remembered_without_a_traceback() -> None:
    done = subprocess.run([sys.executable, "-c", SWALLOWED_STOP], capture_output=True, text=True, timeout=60)

    assert "stop requested: True" in done.stdout, done.stdout + done.stderr
    assert "Traceback" not in done.stderr and "Exception ignored" not in done.stderr

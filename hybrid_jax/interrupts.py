"""SIGINT / SIGTERM stop training at the next step boundary instead of killing it mid-write.

The first signal only sets a flag that `check_stop()` (called between optimiser steps and
cycles) turns into :class:`Interrupted`; a second signal interrupts at once.
"""

from __future__ import annotations

import logging
import signal
import threading
from contextlib import contextmanager

from hybrid_jax.errors import Interrupted

log = logging.getLogger("hybrid_jax")
_received: list[int] = []


def _handler(signum, frame) -> None:
    if _received:
        raise Interrupted(signum)
    _received.append(signum)
    log.warning("%s received: stopping at the next step boundary (send it again to stop at once)",
                signal.Signals(signum).name)


@contextmanager
def stop_on_signals():
    """Install the handlers for the duration of the block (main thread only; elsewhere a no-op)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    old = {s: signal.signal(s, _handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, h in old.items():
            signal.signal(s, h)
        _received.clear()


def check_stop() -> None:
    """Raise :class:`Interrupted` if a stop signal has arrived."""
    if _received:
        raise Interrupted(_received[0])

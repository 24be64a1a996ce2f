"""Logging of the command-line entries: INFO to stderr, third-party chatter quieted; their fast exit."""

from __future__ import annotations

import logging
import os
import sys


def setup_logging() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s", datefmt="%H:%M:%S",
                        force=True)
    for noisy in ("absl", "jax", "orbax"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def log_to_file(path) -> logging.Handler:
    """Also append the log to `path`; returns the handler (remove it to stop)."""
    handler = logging.FileHandler(path)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    logging.getLogger().addHandler(handler)
    return handler


def exit_now(code: int) -> None:
    """End the process at once, its outputs flushed: the interpreter's teardown of XLA and of
    the imported modules takes seconds (2 s for the smoke job) that no one needs. A process of a
    multi-process run exits normally (its atexit handler disconnects it from the others)."""
    jax = sys.modules.get("jax")
    if jax is not None and jax.distributed.is_initialized():
        sys.exit(code)
    sys.stdout.flush()
    sys.stderr.flush()
    logging.shutdown()
    os._exit(code)

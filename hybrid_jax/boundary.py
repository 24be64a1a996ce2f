"""The command-line boundary of ``hybrid_jax.train`` and ``hybrid_jax.compare``: a CLI body runs with
SIGINT/SIGTERM stopping it at a step boundary (`hybrid_jax.interrupts`), and our errors
(`hybrid_jax.errors`) become one stderr line and their exit code."""

from __future__ import annotations

import sys
from typing import Callable

from hybrid_jax.errors import ConfigError, Interrupted, as_user_error
from hybrid_jax.interrupts import stop_on_signals


def run_cli(body: Callable[[], int], resume_hint: Callable[[], str | None] = lambda: None) -> int:
    """Run a CLI body with SIGINT/SIGTERM stopping at the next step boundary; map our errors to
    one stderr line and their exit code (with `resume_hint()` after an interruption)."""
    try:
        with stop_on_signals():
            return body()
    except BaseException as e:  # noqa: B036 - the one boundary: anything a user can cause becomes one line
        err = as_user_error(e)
        if err is None:
            raise
        print(f"error: {' '.join(str(err).split())}", file=sys.stderr)
        hint = resume_hint() if isinstance(err, Interrupted) else None
        if hint:
            print(hint, file=sys.stderr)
        return err.exit_code


def parse_cli(parser, argv):
    """Parse `argv` with flags and `key=value` overrides in any order; a usage error is a ConfigError."""

    def fail(message):
        raise ConfigError(f"{parser.prog}: {message}")

    parser.error = fail
    return parser.parse_intermixed_args(argv)


def exit_now(code: int) -> None:
    """End the process at once, its outputs flushed: the interpreter's teardown of XLA and of
    the imported modules takes seconds (2 s for the smoke job) that no one needs. A process of a
    multi-process run exits normally (its atexit handler disconnects it from the others)."""
    import logging
    import os

    jax = sys.modules.get("jax")
    if jax is not None and jax.distributed.is_initialized():
        sys.exit(code)
    sys.stdout.flush()
    sys.stderr.flush()
    logging.shutdown()
    os._exit(code)

"""The one boundary for user errors: an error type per kind of mistake, one mapping to exit codes.

Exit codes of both command-line entries (``hybrid_jax.train``, ``hybrid_jax.compare``):

    0    success
    2    bad input: config or command line (ConfigError, RunDirError), data (DataError)
    3    a valid run that could not finish: training diverged, a resource ran out
         (ResourceError: disk full, read-only path, host or device memory; JobFailed: a cluster job;
         OutputsFailed: a figure or tracker job of the background output worker failed, training finished)
    130  stopped by SIGINT, 143 by SIGTERM (Interrupted: 128 + the signal number)

Every such error prints one line ``error: ...`` on stderr, never a traceback (`hybrid_jax.boundary`).
This module imports nothing of the package.
"""

from __future__ import annotations

import errno
import signal


class HybridJaxError(Exception):
    """Base of the errors a user can cause or meet; `exit_code` is what the CLIs return."""

    exit_code = 2


class ConfigError(HybridJaxError, ValueError):
    """A config value, override or command-line argument is invalid (names the dotted key)."""


class RunDirError(ConfigError):
    """The run directory is not ours (no marker), is in use by another process, or is not a directory."""


class DataError(HybridJaxError, ValueError):
    """Trajectory data is missing, corrupt or does not match the config."""


class ResourceError(HybridJaxError):
    """Disk, memory or permissions do not allow the run (names the path or the size)."""

    exit_code = 3


class TrainingDiverged(HybridJaxError, RuntimeError):
    """Too many consecutive steps had NaN/inf loss, gradients or parameters."""

    exit_code = 3


class JobFailed(HybridJaxError):
    """A run submitted to a cluster engine (`hybrid_jax.engines`) ended without a finished run (names its log)."""

    exit_code = 3


class OutputsFailed(HybridJaxError):
    """Background output jobs (`hybrid_jax.background`: figures, TensorBoard images, tracker calls) failed;
    the training, checkpoints and JSON outputs are complete. Names each failed job and its error (the
    tracebacks are in the log)."""

    exit_code = 3

    def __init__(self, failures):
        self.failures = list(failures)
        super().__init__("output jobs failed (training finished; tracebacks in the log): " + "; ".join(
            f"{label}: {type(e).__name__}: {e}" for label, e in self.failures))


class Interrupted(HybridJaxError):
    """SIGINT or SIGTERM arrived; training stopped at a step boundary."""

    def __init__(self, signum: int):
        super().__init__(f"stopped by {signal.Signals(signum).name}")
        self.signum = signum
        self.exit_code = 128 + signum


_DISK = {errno.ENOSPC: "disk full", errno.EDQUOT: "disk quota exceeded", errno.EROFS: "read-only file system",
         errno.EACCES: "permission denied", errno.EPERM: "operation not permitted"}


def as_user_error(e: BaseException) -> HybridJaxError | None:
    """`e` as one of our errors (resource and signal exceptions translated), or None for a bug."""
    if isinstance(e, HybridJaxError):
        return e
    if isinstance(e, KeyboardInterrupt):  # a second Ctrl-C, or one before the handlers are installed
        return Interrupted(signal.SIGINT)
    if isinstance(e, MemoryError):
        return ResourceError(f"out of host memory{f' ({e})' if str(e) else ''}; reduce the config's sizes")
    if isinstance(e, OSError):
        what = (_DISK.get(e.errno) if e.errno is not None else None) or e.strerror or type(e).__name__
        return ResourceError(f"{what}: {e.filename}" if e.filename else f"{what} ({e})")
    first_line = (str(e).strip().splitlines() or [""])[0][:300]
    if "RESOURCE_EXHAUSTED" in str(e):  # XLA: device out of memory
        return ResourceError("device out of memory: " + first_line)
    for text in ("No space left on device", "Read-only file system", "Permission denied"):
        if text in str(e):  # Orbax/TensorStore report file errors as ValueError with the OS message
            return ResourceError(f"{text.lower()}: {first_line}")
    return None

"""Safe file writing: atomic replacement and exclusive locks.

`atomic_write` writes to a temporary name in the same folder, flushes it to disk and renames it
over the target, so a crash or a full disk never leaves a half-written file under the real name.
`FileLock` is an exclusive ``fcntl.flock`` on a lock file; the OS releases it when the process
dies, so a stale lock never blocks a later run.
"""

from __future__ import annotations

import fcntl
import os
import unicodedata
from pathlib import Path
from typing import BinaryIO, Callable

from hybrid_jax.errors import RunDirError


def is_plain_name(name: str) -> bool:
    """A single path component: non-empty, not '.' or '..', no separator or control character."""
    return (bool(name) and name not in (".", "..") and "/" not in name and "\\" not in name
            and not any(unicodedata.category(c).startswith("C") for c in name))


def atomic_write(path: str | Path, data: str | bytes | Callable[[BinaryIO], None]) -> None:
    """Write `data` (or what `data(file)` writes) to `path` atomically (temporary file + fsync + os.replace)."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        with open(tmp, "wb") as f:
            data(f) if callable(data) else f.write(data.encode() if isinstance(data, str) else data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as e:
        if e.filename is None:  # a failed write names no file: name the one being written
            raise OSError(e.errno, e.strerror, str(path)) from None
        raise
    finally:
        tmp.unlink(missing_ok=True)


class FileLock:
    """Exclusive lock held while this object lives (or until `release`); `what` names the guarded thing.

    Raises :class:`RunDirError` naming the holder's pid if another process holds it.
    """

    _fd: int | None = None

    def __init__(self, path: str | Path, what: str):
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise RunDirError(f"{what} is in use by another run (pid {holder}); wait for it to finish "
                              f"or choose another directory") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.release()

    def __del__(self):
        self.release()

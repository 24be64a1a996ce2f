"""Run directories: only a directory this library created is ever written into or replaced.

A run directory holds the marker file ``.hybrid_jax_run`` (written first, when the library
creates it) and ``config_hash``. An existing non-empty directory without the marker is refused
with or without ``--overwrite``; ``--overwrite`` empties only a marked directory. While a run
writes, it holds an exclusive lock (``.lock``) on the directory; a second run refuses, naming
the holder's pid.
"""

from __future__ import annotations

import contextlib

import json
import shutil
from pathlib import Path

from hybrid_jax.config import Config, config_hash, save_config, to_dict
from hybrid_jax.errors import ConfigError, RunDirError
from hybrid_jax.files import FileLock, atomic_write

MARKER = ".hybrid_jax_run"
LOCK = ".lock"


def run_hash(cfg: Config) -> str:
    """Hash of what determines a run's results (tasks, evaluation, output and parallel settings
    excluded: a run may resume on another number of devices)."""
    d = to_dict(cfg)
    for key in ("tasks", "evaluation", "output", "parallel"):
        d.pop(key)
    return config_hash(d)


def is_finished(cfg: Config, run_dir: Path) -> bool:
    """Whether `run_dir` holds a finished run of `cfg`: its summary.json (written last) and its config hash."""
    hash_file = Path(run_dir) / "config_hash"
    return ((Path(run_dir) / "summary.json").is_file() and hash_file.is_file()
            and hash_file.read_text().strip() == run_hash(cfg))


def is_ours(run_dir: Path) -> bool:
    return (run_dir / MARKER).is_file()


def _check_writable_here(run_dir: Path, overwrite: bool) -> None:
    if run_dir.exists() and not run_dir.is_dir():
        raise RunDirError(f"{run_dir}: exists and is not a directory; choose another --out")
    if run_dir.is_dir() and not is_ours(run_dir) and any(p.name != LOCK for p in run_dir.iterdir()):
        action = "replace" if overwrite else "write into"
        raise RunDirError(f"{run_dir}: not a hybrid_jax run directory (no {MARKER} marker) and not empty; "
                          f"refusing to {action} it: choose another --out or experiment_name")


def claim_dir(folder: Path, overwrite: bool = False) -> None:
    """Create `folder` (or accept an empty one, or one of ours) and mark it as ours; refuse anything else."""
    _check_writable_here(folder, overwrite)
    folder.mkdir(parents=True, exist_ok=True)
    if not is_ours(folder):
        atomic_write(folder / MARKER, json.dumps({"library": "hybrid_jax"}) + "\n")


def prepare_run_dir(cfg: Config, run_dir: Path, overwrite: bool) -> FileLock | contextlib.nullcontext:
    """Create or reuse the run directory and lock it; return the lock (keep it while the run writes).

    Refuses a directory that is not ours, one locked by another process, and (without `overwrite`)
    one holding a run of a different config. In a multi-process run only process 0 writes; the
    others wait for it and get a lock that holds nothing.
    """
    from hybrid_jax.parallel import is_primary, sync  # imports JAX

    if not is_primary():
        sync("run_dir")
        return contextlib.nullcontext()
    run_dir = Path(run_dir)
    _check_writable_here(run_dir, overwrite)
    run_dir.mkdir(parents=True, exist_ok=True)
    lock = FileLock(run_dir / LOCK, str(run_dir))
    try:
        _check_writable_here(run_dir, overwrite)  # again, now that we hold the lock
        h, hash_file = run_hash(cfg), run_dir / "config_hash"
        if overwrite:
            for p in run_dir.iterdir():
                if p.name not in (LOCK, MARKER):
                    shutil.rmtree(p) if p.is_dir() and not p.is_symlink() else p.unlink()
        elif hash_file.is_file() and hash_file.read_text().strip() != h:
            raise ConfigError(f"{run_dir}: holds a run of a different config; pass --overwrite to replace it "
                              f"or --out to choose another directory")
        claim_dir(run_dir)
        save_config(cfg, run_dir / "config.yaml")
        atomic_write(hash_file, h + "\n")
    except BaseException:
        lock.release()
        raise
    sync("run_dir")
    return lock

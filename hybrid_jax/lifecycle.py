"""One run's lifecycle, the same for the CLIs, `compare` and the Python API.

`start` prepares the process (multi-host connection, PhiFlow's JAX backend, the persistent
compilation cache); `open_run` opens a run directory (created or reused, locked, logged to
``train.log``) for as long as a run writes it; `checkpoint_steps` / `has_checkpoints` find its
checkpoints; `restore_trained` reads its newest intact checkpoint back (a damaged newer one is
moved aside with a warning). Importing this module starts no XLA.
"""

from __future__ import annotations

import contextlib
import logging
from pathlib import Path
from typing import Iterator

from hybrid_jax.config import Config
from hybrid_jax.errors import ConfigError


def start(cfg: Config) -> None:
    """Connect the processes of a multi-host run, set up PhiFlow's JAX backend and the compilation cache
    (idempotent; before anything else starts XLA)."""
    from hybrid_jax.backend import enable_compilation_cache, setup
    from hybrid_jax.parallel import initialize

    initialize(cfg.parallel)
    enable_compilation_cache(cfg.output.compilation_cache)  # first: PhiML's backend compiles programs as it starts
    setup()


@contextlib.contextmanager
def open_run(cfg: Config, run_dir: str | Path, overwrite: bool = False, *, resume: bool = False) -> Iterator[Path]:
    """``with open_run(cfg, run_dir): run(cfg, run_dir)``: `start`, then create or reuse `run_dir`
    (`hybrid_jax.rundir.prepare_run_dir`), hold its lock and append the log to ``train.log`` (process 0)
    until the block ends. `resume`: refuse a directory without a checkpoint (ConfigError)."""
    from hybrid_jax.logs import log_to_file
    from hybrid_jax.parallel import is_primary
    from hybrid_jax.rundir import prepare_run_dir

    start(cfg)
    run_dir = Path(run_dir)
    with prepare_run_dir(cfg, run_dir, overwrite):
        if resume and not has_checkpoints(run_dir):
            raise ConfigError(f"--resume: {run_dir} holds no checkpoint to resume from")
        handler = log_to_file(run_dir / "train.log") if is_primary() else None
        try:
            yield run_dir
        finally:
            if handler is not None:
                logging.getLogger().removeHandler(handler)
                handler.close()


def checkpoint_steps(run_dir: str | Path) -> list[int]:
    """Steps (cycles done) of the committed checkpoints in ``run_dir/checkpoints``, ascending (Orbax names a
    committed step by its number; one still being written carries a suffix)."""
    folder = Path(run_dir) / "checkpoints"
    return sorted(int(p.name) for p in folder.iterdir() if p.name.isdigit()) if folder.is_dir() else []


def has_checkpoints(run_dir: str | Path) -> bool:
    return bool(checkpoint_steps(run_dir))


def restore_trained(cfg: Config, run_dir: str | Path, template):
    """The train states (shaped like `template`) of the newest intact checkpoint of `run_dir`.

    A newer checkpoint that fails its checksum or cannot be read is moved aside to
    ``checkpoints.corrupt/`` with a warning, and the next older one is used
    (`hybrid_jax.checkpoint.Checkpoints.restore_intact`); ConfigError if there is no checkpoint,
    DataError if none is intact.
    """
    from hybrid_jax.checkpoint import Checkpoints

    run_dir = Path(run_dir)
    found = None
    if has_checkpoints(run_dir):  # (else no manager: it would create the folder)
        ckpts = Checkpoints(run_dir / "checkpoints", cfg.output.max_checkpoints)
        try:
            found = ckpts.restore_intact(template)
        finally:
            ckpts.close()
    if found is None:
        raise ConfigError(f"{run_dir}: no checkpoint to load; run the train task first")
    return found[1]

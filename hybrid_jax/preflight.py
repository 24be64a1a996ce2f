"""Preflight: before anything is allocated, size a run from its config (or its data file's header)
and refuse one that cannot fit with one line naming the estimate, the limit and the key to change.
The estimates, phase by phase, are `hybrid_jax.footprint`'s (docs/data.md, "Memory")."""

from __future__ import annotations

import os
from pathlib import Path

from hybrid_jax.config import Config


def preflight(cfg: Config) -> None:
    """Check the run fits before allocating: sizes from the config, or from a data file's header
    (channels from the file; for generated data from the PDE's layout)."""
    n, t, channels = cfg.data.num_trajectories, cfg.data.num_frames, 1
    path = cfg.data.path
    if cfg.data.source == "files" and path is not None and path.endswith(".npz") and os.path.isfile(path):
        from hybrid_jax.data.formats import npz_headers
        from hybrid_jax.errors import DataError

        try:
            shape = npz_headers(Path(path))["trajectories"][0]
        except (DataError, KeyError, ValueError, OSError):
            return  # load_files reports what is wrong with the file
        if len(shape) >= 3:
            n, t, channels = shape[0], shape[1], shape[-1]
    from hybrid_jax.footprint import channels_of, check_memory  # what runs, phase by phase (docs/data.md, Memory)

    check_memory(cfg, channels_of(cfg) if cfg.data.source == "generate" else channels, n, t)

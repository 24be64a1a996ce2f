"""Preflight: estimate a run's memory from its config before anything is allocated, and refuse
a run that cannot fit with one line naming the estimate and the limit.

The estimate (bytes, float32) counts the real trajectories (twice: host copy and device copy),
the generated set, and one training step: a batch of K-step rollouts with the network's activations
(kept for the backward pass) and the parameters with their gradients and Adam moments, both counted
by the network's own config (`NetworkConfig.footprint`: a plugin without a count adds nothing).
It is an order-of-magnitude guard against configs that cannot run, not a tight bound.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

from hybrid_jax.config import Config
from hybrid_jax.errors import ResourceError
from hybrid_jax.training.plan import num_generated
from hybrid_jax.memory import host_memory_available, size_text

F32 = 4


def device_memory_limit() -> int | None:
    """Bytes of the first device's memory (None on CPU, where host memory is the limit)."""
    import jax

    stats = jax.local_devices()[0].memory_stats() or {}
    return stats.get("bytes_limit")


def estimate(cfg: Config, channels: int, num_trajectories: int, num_frames: int) -> dict[str, int]:
    """Bytes of each part of a run: real data, generated set, one training step."""
    cells = math.prod(cfg.physics.resolution)
    k, b, net = cfg.data.rollout_steps, cfg.trainer.batch_size, cfg.network
    state = cells * channels * F32
    real = num_trajectories * num_frames * state
    windows = num_trajectories * max(math.ceil((num_frames - k) / cfg.data.window_stride), 1)
    generated = num_generated(cfg, windows) * (k + 1) * state
    size = net.footprint(channels, channels, len(cfg.physics.resolution))  # the network's own count
    weights, per_cell = size if size is not None else (0, 0.0)
    activations = b * (k + 1) * cells * per_cell * F32
    params = weights * F32 * 4  # values, gradients, two Adam moments
    return {"data": 2 * real, "generated": generated, "train_step": int(activations) + params + b * (k + 1) * state}


def check_fits(cfg: Config, channels: int, num_trajectories: int, num_frames: int) -> None:
    """Raise ResourceError if the estimate exceeds the device's memory or the available host memory."""
    parts = estimate(cfg, channels, num_trajectories, num_frames)
    total = sum(parts.values())
    device = device_memory_limit()
    limit, where = (device, "device memory") if device else (host_memory_available(), "available host memory")
    if total > limit:
        detail = ", ".join(f"{k} {size_text(v)}" for k, v in parts.items())
        raise ResourceError(f"this config needs about {size_text(total)} ({detail}), more than the "
                            f"{size_text(limit)} of {where}; reduce physics.resolution, data.num_trajectories, "
                            f"trainer.batch_size or network.filters")


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

"""Preflight: estimate a run's memory from its config before anything is allocated, and refuse
a run that cannot fit with one line naming the estimate and the limit.

The estimate (bytes, float32) counts the real trajectories (twice: host copy and device copy),
the generated set, and one training step: a batch of K-step rollouts with the network's widest
activations (kept for the backward pass) and the parameters with their gradients and Adam moments.
It is an order-of-magnitude guard against configs that cannot run, not a tight bound.
"""

from __future__ import annotations

import math
import os

from hybrid_jax.config import Config
from hybrid_jax.errors import ResourceError

F32 = 4


def size_text(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if abs(n) < 1024 or unit == "PiB":
            return f"{n:.3g} {unit}" if unit != "B" else f"{int(n)} B"
        n /= 1024
    raise AssertionError  # unreachable


def host_memory_available() -> int:
    """Bytes of host memory available now (MemAvailable), or the physical memory if unknown."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


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
    h = cfg.trainer.hybrid
    fraction = h.generated_fraction if h.generated_fraction is not None else max(h.alpha, h.schedule.final)
    generated = math.ceil(fraction * windows) * (k + 1) * state if cfg.mode == "hybrid" else 0
    kernel, f = net.kernel_size ** len(cfg.physics.resolution), net.filters
    if net.architecture == "convnet":
        weights = kernel * (2 * channels * f + (net.layers - 1) * f * f)
        activations = b * (k + 1) * cells * f * (net.layers + 2) * F32
    else:  # UNet: two convolutions per level on the way down and up, channels doubling per level
        weights = kernel * sum(4 * (f * 2 ** lvl) ** 2 for lvl in range(net.levels))
        activations = b * (k + 1) * cells * f * 4 * F32
    params = weights * F32 * 4  # values, gradients, two Adam moments
    return {"data": 2 * real, "generated": generated, "train_step": activations + params + b * (k + 1) * state}


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
    if cfg.data.source == "files" and str(cfg.data.path).endswith(".npz") and os.path.isfile(cfg.data.path):
        from hybrid_jax.data.formats import npz_headers
        from hybrid_jax.errors import DataError

        try:
            shape = npz_headers(cfg.data.path)["trajectories"][0]
        except (DataError, KeyError, ValueError, OSError):
            return  # load_files reports what is wrong with the file
        if len(shape) >= 3:
            n, t, channels = shape[0], shape[1], shape[-1]
    from hybrid_jax.memory import channels_of, check_memory  # what runs, phase by phase (docs/data.md, Memory)

    check_memory(cfg, channels_of(cfg) if cfg.data.source == "generate" else channels, n, t)

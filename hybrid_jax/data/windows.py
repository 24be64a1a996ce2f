"""Training windows ``(sim, t)`` over a trajectory array, addressed by index, never copied.

A window of horizon K starting at frame t of simulation `sim` is
``x0 = traj[sim, t]`` and ``targets = traj[sim, t+1 : t+1+K]``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np


def split_simulations(num_sims: int, validation_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Shuffle simulation ids with `seed`; return (train ids, validation ids), both non-empty and sorted."""
    if num_sims < 2:
        raise ValueError(f"need at least 2 trajectories to split into train and validation, got {num_sims}")
    perm = np.random.default_rng(seed).permutation(num_sims)
    n_val = min(max(1, round(num_sims * validation_fraction)), num_sims - 1)
    return np.sort(perm[n_val:]), np.sort(perm[:n_val])


def window_index(sims: np.ndarray, num_frames: int, horizon: int, stride: int = 1) -> np.ndarray:
    """All windows ``[W, 2]`` (int32 columns sim, t) with K = `horizon` targets inside `num_frames` frames."""
    starts = np.arange(0, num_frames - horizon, stride)
    if len(starts) == 0:
        raise ValueError(f"no window of {horizon} targets fits in {num_frames} frames")
    sims = np.asarray(sims)
    return np.stack([np.repeat(sims, len(starts)), np.tile(starts, len(sims))], axis=1).astype(np.int32)


def gather_windows(traj: jax.Array, sims: jax.Array, ts: jax.Array, horizon: int) -> tuple[jax.Array, jax.Array]:
    """Gather ``x0 [B, *spatial, C]`` and ``frames [B, K, *spatial, C]`` of windows (sims[i], ts[i])."""
    frames = traj[sims[:, None], ts[:, None] + jnp.arange(horizon + 1)]
    return frames[:, 0], frames[:, 1:]

"""Grain sources of window indices and their mixing into shuffled batches.

Samples carry indices, not arrays: ``{source, sim, t, weight}`` (source 0 = real, 1 = generated).
The jitted train step gathers the windows from device-resident trajectories
(`materialize`), so no window crosses the host per batch.
"""

from __future__ import annotations

import grain
import jax.numpy as jnp
import numpy as np

from hybrid_jax.data.windows import gather_windows

REAL, GENERATED = 0, 1


class WindowSource:
    """A Grain random-access source over windows ``[W, 2]`` (sim, t) of one trajectory array."""

    def __init__(self, windows: np.ndarray, source: int, weight: float):
        self.windows = np.asarray(windows, np.int32)
        self.source = np.int32(source)
        self.weight = np.float32(weight)

    def __len__(self) -> int:
        return len(self.windows)

    def __getitem__(self, i: int) -> dict:
        sim, t = self.windows[i]
        return {"source": self.source, "sim": sim, "t": t, "weight": self.weight}


def mixed_batches(sources: list[WindowSource], batch_size: int, seed: int) -> grain.MapDataset:
    """Concatenate sources, shuffle them together with `seed` (random mixing), batch.

    The last partial batch is dropped so every batch has the same shape (one compilation).
    """
    sources = [s for s in sources if len(s)]
    total = sum(len(s) for s in sources)
    if total < batch_size:
        raise ValueError(f"trainer.batch_size: {batch_size} is larger than the {total} training windows")
    ds = grain.MapDataset.concatenate([grain.MapDataset.source(s) for s in sources])
    return ds.shuffle(seed=seed).batch(batch_size, drop_remainder=True)


def full_batch(sources: list[WindowSource]) -> dict:
    """One index batch of every window of the sources, in order (full-batch training)."""
    sources = [s for s in sources if len(s)]
    if not sources:
        raise ValueError("no training windows")
    return {
        "source": np.concatenate([np.full(len(s), s.source, np.int32) for s in sources]),
        "sim": np.concatenate([s.windows[:, 0] for s in sources]),
        "t": np.concatenate([s.windows[:, 1] for s in sources]),
        "weight": np.concatenate([np.full(len(s), s.weight, np.float32) for s in sources]),
    }


def materialize(data: dict, batch: dict, horizon: int) -> dict:
    """Turn an index batch into ``{x0, targets, weight, mask}`` on the device (inside jit).

    data: ``real [N, T, *spatial, C]``, ``real_mask [T, *spatial]`` (observed cells of real data),
    ``generated [M, K+1, *spatial, C]`` (fully observed). targets keep every channel;
    losses compare only the dynamic ones.
    """
    is_gen = batch["source"] == GENERATED
    sims, ts = batch["sim"], batch["t"]
    n_gen = data["generated"].shape[0]
    x0_r, tg_r = gather_windows(data["real"], jnp.where(is_gen, 0, sims), jnp.where(is_gen, 0, ts), horizon)
    x0_g, tg_g = gather_windows(data["generated"], jnp.clip(jnp.where(is_gen, sims, 0), 0, n_gen - 1),
                                jnp.zeros_like(ts), horizon)
    mask_r = data["real_mask"][jnp.where(is_gen, 0, ts)[:, None] + 1 + jnp.arange(horizon)]
    sel = lambda g, r: jnp.where(is_gen.reshape((-1,) + (1,) * (r.ndim - 1)), g, r)  # noqa: E731
    return {
        "x0": sel(x0_g, x0_r),
        "targets": sel(tg_g, tg_r),
        "mask": sel(jnp.ones_like(mask_r), mask_r),
        "weight": batch["weight"].astype(jnp.float32),
    }


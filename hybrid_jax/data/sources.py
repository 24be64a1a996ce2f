"""Grain sources of window indices and their mixing into shuffled batches.

Samples carry indices, not arrays: ``{source, sim, t, weight}`` (source 0 = real, 1 = generated).
The jitted train step gathers the windows from device-resident trajectories
(`materialize`), so no window crosses the host per batch. Real trajectories too large for the device
stay on the host (data.placement; memory-mapped): each batch's real windows are gathered there
(`host_windows`, prefetched by Grain: `streamed`) and the step gathers from those instead.
"""

from __future__ import annotations

import grain
import jax.numpy as jnp
import numpy as np

from hybrid_jax.data.windows import gather_windows

REAL, GENERATED = 0, 1


class WindowSource:
    """A Grain random-access source over windows ``[W, 2]`` (sim, t) of one trajectory array; with
    `fraction` < 1 each epoch of `mixed_batches` draws `kept_windows(W, fraction)` of them anew."""

    def __init__(self, windows: np.ndarray, source: int, weight: float, fraction: float = 1.0):
        self.windows = np.asarray(windows, np.int32)
        self.source = np.int32(source)
        self.weight = np.float32(weight)
        self.fraction = fraction

    def __len__(self) -> int:
        return len(self.windows)

    def __getitem__(self, i: int) -> dict:
        sim, t = self.windows[i]
        return {"source": self.source, "sim": sim, "t": t, "weight": self.weight}


def kept_windows(num_windows: int, fraction: float) -> int:
    """Windows of a source that one epoch uses: ``max(1, ⌊fraction · num_windows⌋)`` (all if fraction is 1)."""
    return num_windows if fraction >= 1 else max(1, int(fraction * num_windows))


def epoch_subset(source: WindowSource, seed: int, index: int) -> WindowSource:
    """The windows of `source` one epoch uses: all, or `kept_windows` drawn without replacement with a
    generator of (seed, index) (a pure function of the epoch's seed: exact resume)."""
    n = len(source)
    if source.fraction >= 1 or not n:
        return source
    pick = np.random.default_rng([seed, index]).choice(n, kept_windows(n, source.fraction), replace=False)
    return WindowSource(source.windows[np.sort(pick)], int(source.source), float(source.weight))


def mixed_batches(sources: list[WindowSource], batch_size: int, seed: int) -> grain.MapDataset:
    """Concatenate sources (each subsampled by its `fraction`: `epoch_subset`), shuffle them together
    with `seed` (random mixing), batch.

    The last partial batch is dropped so every batch has the same shape (one compilation).
    """
    sources = [s for s in (epoch_subset(s, seed, i) for i, s in enumerate(sources)) if len(s)]
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


PREFETCH_THREADS = 2


def host_windows(real: np.ndarray, batch: dict, window: int) -> tuple[dict, np.ndarray]:
    """The real windows of an index batch read on the host: ``[B, window+1, *spatial, C]`` float32 (zeros
    for generated samples), and the batch with ``row`` (each sample's row in it) added."""
    b = len(batch["sim"])
    out = np.zeros((b, window + 1) + real.shape[2:], np.float32)
    is_real = np.asarray(batch["source"]) == REAL
    sims, ts = np.asarray(batch["sim"])[is_real], np.asarray(batch["t"])[is_real]
    out[is_real] = real[sims[:, None], ts[:, None] + np.arange(window + 1)]  # reads only these frames' pages
    return {**batch, "row": np.arange(b, dtype=np.int32)}, out


def streamed(batches, real: np.ndarray, window: int, prefetch: int):
    """`host_windows` of each index batch of a Grain dataset, read ahead by `prefetch` batches on
    PREFETCH_THREADS threads: yields ``(batch with row, windows)``."""
    ds = batches.map(lambda idx: host_windows(real, idx, window))
    return ds.to_iter_dataset(grain.ReadOptions(num_threads=PREFETCH_THREADS, prefetch_buffer_size=prefetch))


def materialize(data: dict, batch: dict, horizon: int) -> dict:
    """Turn an index batch into ``{x0, targets, weight, mask, generated}`` on the device (inside jit).

    data: ``real [N, T, *spatial, C]`` (or, with ``batch["row"]``, the batch's host windows ``[B, K+1, ...]``),
    ``real_mask [T, *spatial]`` (observed cells of real data),
    ``generated [M, L+1, *spatial, C]`` (fully observed; windows (rollout, t) as for real data).
    targets keep every channel; losses compare only the dynamic ones. Each sample gathers its one window
    from a flat view of all frames (real, then generated), which XLA fuses into the gather (the view is
    not copied).
    """
    real, gen, real_mask = data["real"], data["generated"], data["real_mask"]
    n_real, n_frames = real.shape[:2]
    is_gen = batch["source"] == GENERATED
    sims, ts = batch["sim"], batch["t"]
    frames = jnp.concatenate([real.reshape((-1,) + real.shape[2:]), gen.reshape((-1,) + gen.shape[2:])])
    gen_start = n_real * n_frames + jnp.clip(sims, 0, gen.shape[0] - 1) * gen.shape[1] + ts
    real_start = batch["row"] * n_frames if "row" in batch else sims * n_frames + ts  # host windows: `host_windows`
    start = jnp.where(is_gen, gen_start, real_start)
    x0, targets = gather_windows(frames[None], jnp.zeros_like(start), start, horizon)
    n_mask = real_mask.shape[0]  # T
    masks = jnp.concatenate([real_mask, jnp.ones_like(real_mask[:1])])  # [T+1, *spatial]: the last for generated
    mask = masks[jnp.where(is_gen[:, None], n_mask, ts[:, None] + 1 + jnp.arange(horizon))]
    return {"x0": x0, "targets": targets, "mask": mask, "weight": batch["weight"].astype(jnp.float32),
            "generated": is_gen}

"""Observation masks of real data: which cells and frames the loss may compare.

A mask is float32 ``[T, *spatial]`` (1 observed, 0 not), shared by every real trajectory;
`sources.materialize` gathers it per window and `losses.per_sample_loss` normalises by it, so an
unobserved target contributes nothing (no padding, no repetition). Generated data is fully
observed. Initial states ``x0`` of windows are still full real frames (only targets are sparse),
and a window starts only at an observed frame and keeps at least one observed target.
Everything is a pure function of the config (`random_points` of its own seed).
"""

from __future__ import annotations

import numpy as np

from hybrid_jax.config import ConfigError, ObservationConfig


def _centres(n: int) -> np.ndarray:
    """Relative cell-centre coordinates ``[n]`` in (0, 1)."""
    return (np.arange(n) + 0.5) / n


def _box_mask(shape: tuple[int, ...], box) -> np.ndarray:
    axes = [(c >= lo) & (c < hi) for c, (lo, hi) in zip(map(_centres, shape), box)]
    return np.logical_and.reduce(np.meshgrid(*axes, indexing="ij"))


def spatial_mask(obs: ObservationConfig, shape: tuple[int, ...]) -> np.ndarray:
    """Observed cells ``[*spatial]`` float32 of the configured kind (see `ObservationConfig`)."""
    if obs.spatial == "full":
        m = np.ones(shape, bool)
    elif obs.spatial == "box":
        m = _box_mask(shape, obs.box)
    elif obs.spatial == "centre":
        half = 0.5 * obs.fraction ** (1.0 / len(shape))  # a centred cube of relative volume `fraction`
        m = _box_mask(shape, [(0.5 - half, 0.5 + half)] * len(shape))
    elif obs.spatial == "random_points":
        size = int(np.prod(shape))
        n = max(1, round(obs.fraction * size))
        m = np.zeros(size, bool)
        m[np.random.default_rng(obs.seed).choice(size, n, replace=False)] = True
        m = m.reshape(shape)
    else:  # pragma: no cover (the config's Literal rules it out)
        raise ValueError(f"data.observation.spatial: unknown kind {obs.spatial!r}")
    if not m.any():
        raise ConfigError(f"data.observation: no cell of the {list(shape)} grid is observed ({obs.spatial})")
    return m.astype(np.float32)


def time_mask(obs: ObservationConfig, num_frames: int) -> np.ndarray:
    """Observed frames ``[T]`` bool: `observed_steps` if given, else every `time_stride`-th frame."""
    if obs.observed_steps:
        bad = [t for t in obs.observed_steps if t >= num_frames]
        if bad:
            raise ConfigError(f"data.observation.observed_steps: frames {bad} are not < num_frames ({num_frames})")
        m = np.zeros(num_frames, bool)
        m[list(obs.observed_steps)] = True
        return m
    return np.arange(num_frames) % obs.time_stride == 0


def observation_mask(obs: ObservationConfig, shape: tuple[int, ...], num_frames: int) -> np.ndarray:
    """The real-data mask ``[T, *spatial]`` float32: spatial mask on observed frames, 0 elsewhere."""
    t = time_mask(obs, num_frames).astype(np.float32)
    return t.reshape((-1,) + (1,) * len(shape)) * spatial_mask(obs, shape)[None]


def observed_windows(windows: np.ndarray, frames_observed: np.ndarray, horizon: int) -> np.ndarray:
    """Windows ``[W, 2]`` (sim, t) whose start frame t is observed and that have an observed target
    among frames t+1..t+K (`frames_observed` ``[T]`` bool)."""
    t = windows[:, 1]
    obs = np.asarray(frames_observed, bool)
    has_target = obs[t[:, None] + 1 + np.arange(horizon)].any(axis=1)
    return windows[obs[t] & has_target]


def is_full(mask) -> bool:
    """Whether a mask observes everything."""
    return bool(np.all(np.asarray(mask) == 1))

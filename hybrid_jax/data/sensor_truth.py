"""The sensor record of a config (``data.sensors``): one true trajectory, simulated on a finer grid
with a smaller time step than the model's (no inverse crime), read by sensors that start on a lattice
over a window, move along their paths and stay in the window.

Scattered sensors (``paths.kind: scattered``) are fresh uniform points of the window at every reading time.
Reading times are t_k = k·T/F (k = 0..F, T = ``duration``, F = ``frames``). The sensors kept, the
initial state's random draw (if the prior is random) and the readings' noise come from the seed.
"""

from __future__ import annotations

import dataclasses
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from hybrid_jax.config import Config, ConfigError
from hybrid_jax.data.sensors import Grid, SensorData, fixed_paths, linear_ode_paths, observe, scattered_points
from hybrid_jax.physics import build_pde

F32 = jnp.float32


class SensorSetup(NamedTuple):
    """A sensor record with the box it lives in: ``data`` (positions [F+1, S, d], times [F+1],
    values [F+1, S, C]), the true trajectory on the model's grid ``truth_on_model [F+1, *spatial, C]``
    (for evaluation only) and the box ``(origin, size)``."""

    data: SensorData
    truth_on_model: np.ndarray
    origin: tuple[float, ...]
    size: tuple[float, ...]


def initial_key(seed: int) -> jax.Array:
    """Key of the initial state's draw: the truth's and the physical model's (on its own grid) are alike."""
    return jax.random.fold_in(jax.random.PRNGKey(seed), 11)


def box(pde) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """(origin, size) of a PDE's box (domain units): the heat family's ``origin``, else 0."""
    size = tuple(pde.cfg.domain)
    return tuple(getattr(pde.cfg, "origin", (0.0,) * len(size))), size


def sample_grid(pde) -> Grid:
    """Where a PDE's state samples lie: the box's vertices (non-periodic families on a vertex grid, the heat
    family), or the cell centres of the periodic box."""
    origin, size = box(pde)
    if pde.periodic:
        return Grid.cell_centred(size, pde.spatial_shape, True, origin)
    return Grid.vertices(origin, tuple(o + s for o, s in zip(origin, size)), pde.spatial_shape)


def steps_per_frame(duration: float, frames: int, dt: float, key: str) -> int:
    """Solver steps of length `dt` per reading interval, refused unless a whole number (1e-6 relative)."""
    n = duration / frames / dt
    if abs(n - round(n)) > 1e-6 * max(n, 1.0) or round(n) < 1:
        raise ConfigError(f"{key}: data.sensors.duration / frames = {duration / frames:.6g} must be a whole number "
                          f"of time steps {dt:.6g}, got {n:.6g}")
    return int(round(n))


def trajectory(pde, x0: jax.Array, params, frames: int, per_frame: int) -> jax.Array:
    """``[frames + 1, *spatial, C]``: `x0` and the state after every `per_frame` steps."""
    def frame(x, _):
        y = jax.lax.fori_loop(0, per_frame, lambda _, s: pde.step(s, params), x)
        return y, y

    return jnp.concatenate([x0[None], jax.lax.scan(frame, x0, None, length=frames)[1]], 0)


def window_of(window: tuple, origin, size) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """(lower, upper) of a ``[[lo, hi], ...]`` window (default: the whole box)."""
    if not window:
        return tuple(origin), tuple(o + s for o, s in zip(origin, size))
    return tuple(float(w[0]) for w in window), tuple(float(w[1]) for w in window)


def sensor_setup(cfg: Config, pde, seed: int) -> SensorSetup:
    """Simulate the truth and read it by the sensors (see the module docstring)."""
    s = cfg.data.sensors
    origin, size = box(pde)
    ndim = len(size)
    truth_physics = dataclasses.replace(cfg.physics, resolution=tuple(s.truth_resolution or cfg.physics.resolution),
                                        dt=s.truth_dt or cfg.physics.dt,
                                        **({"substeps": 1} if s.truth_dt and hasattr(cfg.physics, "substeps") else {}))
    truth = build_pde(truth_physics)
    per_frame = steps_per_frame(s.duration, s.frames, truth_physics.dt, "data.sensors.truth_dt")
    key_pick, key_noise = jax.random.split(jax.random.fold_in(jax.random.PRNGKey(seed), 13))
    x0 = truth.sample_initial_state(initial_key(seed), 1)[0]
    times = jnp.arange(s.frames + 1, dtype=F32) * (s.duration / s.frames)
    lo, hi = window_of(s.window, origin, size)
    if len(lo) != ndim:
        raise ConfigError(f"data.sensors.window: must have one [lo, hi] per dimension ({ndim}), got {len(lo)}")
    p = s.paths
    axes = [np.linspace(a, b, s.lattice) for a, b in zip(lo, hi)]
    lattice = np.stack(np.meshgrid(*axes, indexing="ij"), -1).reshape(-1, ndim)
    if s.count > len(lattice) and p.kind != "scattered":
        raise ConfigError(f"data.sensors.count: at most lattice^d = {len(lattice)}, got {s.count}")
    z0 = jnp.asarray(lattice[np.sort(np.asarray(jax.random.permutation(key_pick, len(lattice))[: s.count]))], F32)
    centre = p.centre or tuple((a + b) / 2 for a, b in zip(lo, hi))
    if p.kind == "linear_ode" and (np.shape(p.matrix) != (ndim, ndim) or len(centre) != ndim):
        raise ConfigError(f"data.sensors.paths: matrix must be {ndim} × {ndim} and centre have {ndim} entries")
    nodes = sample_grid(pde).coords().reshape(-1, ndim)

    @jax.jit
    def simulate_and_read(x0, params, z0, key):  # one compiled program (eager ops would compile one by one)
        traj = trajectory(truth, x0, params, s.frames, per_frame)
        if p.kind == "scattered":
            positions = scattered_points(key_pick, len(times), s.count, (lo, hi))
        elif p.kind == "fixed":
            positions = fixed_paths(z0, times)
        else:
            positions = linear_ode_paths(z0, jnp.asarray(p.matrix, F32), jnp.asarray(centre, F32), times,
                                         window=(lo, hi), boundary=p.boundary)
        values = observe(traj, times, sample_grid(truth), positions, times)
        if s.noise:
            values = values + s.noise * jnp.std(values) * jax.random.normal(key, values.shape, F32)
        on_model = observe(traj, times, sample_grid(truth), jnp.broadcast_to(nodes, (len(times),) + nodes.shape), times)
        return positions, values, on_model

    positions, values, on_model = simulate_and_read(x0, truth.true_params(), z0, key_noise)
    on_model = np.asarray(on_model).reshape((len(times),) + tuple(pde.spatial_shape) + (values.shape[-1],))
    data = SensorData(np.asarray(positions, np.float32), np.asarray(times, np.float32), np.asarray(values, np.float32))
    return SensorSetup(data, on_model.astype(np.float32), origin, size)

"""Real data the physical model cannot reproduce exactly (``data.truth``; docs/data.md).

Data made by the model's own solver, grid and time step let physical-only training recover the
parameters exactly (an "inverse crime"). The options here make the data differ:

- ``refine``: simulate at resolution × s with dt / r (a finer PDE built from the same family
  config: true coefficient fields and initial states are evaluated on the fine grid), keep every
  r-th step and block-average over s^d cells onto the model's grid;
- ``forcing``: add dt·f(x) to the dynamic channels after every solver step (a term the family lacks);
- ``advection``: generate with another advection scheme than the model's;
- ``noise``: Gaussian observation noise on the loaded real data (never stored; evaluation uses the
  clean trajectories).

The first three change the simulation and enter the store's hash (`TruthConfig.simulated`).
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

from hybrid_jax.config import (
    ConfigError,
    ForcingConfig,
    NoiseConfig,
    PhysicsConfig,
    TruthConfig,
)
from hybrid_jax.physics.coefficients import cell_centres

NOISE_STREAM = 2  # folded into the seed's key: observation noise draws from its own stream


def truth_physics(physics: PhysicsConfig, truth: TruthConfig) -> PhysicsConfig:
    """The physics config that generates the real data: `physics` on a grid refined s times, with dt / r,
    substeps·s² substeps (the explicit diffusion bound scales with dx²/dt_sub; so every substep is r·s² times
    shorter than the model's, also for families whose substeps carry the whole step), and `truth.advection`.
    The family's own checks validate it; `physics` itself when nothing changes."""
    s, r = truth.refine.space, truth.refine.time
    changes = {}
    if s > 1:
        changes["resolution"] = tuple(n * s for n in physics.resolution)
    if r > 1:
        if not hasattr(physics, "dt"):
            raise ConfigError(f"data.truth.refine.time: family {physics.name!r} has no physics.dt to refine")
        changes["dt"] = physics.dt / r
    if changes and hasattr(physics, "substeps"):
        changes["substeps"] = physics.substeps * s * s
    if truth.advection is not None:
        changes["advection"] = truth.advection
    if not changes:
        return physics
    try:
        return dataclasses.replace(physics, **changes)
    except ConfigError as e:
        raise ConfigError(f"data.truth: the refined physics for the data generation is invalid ({e})") from None


def check_refinable(pde, physics: PhysicsConfig, truth: TruthConfig) -> None:
    """Refuse spatial refinement of a family whose state is not cell-centred (a PDE with ``staggered = True``):
    block averaging would put its face values in the wrong place."""
    if truth.refine.space > 1 and getattr(pde, "staggered", False):
        raise ConfigError(f"data.truth.refine.space: family {physics.name!r} stores a staggered velocity, which "
                          f"block averaging cannot downsample; use refine.space = 1")


def forcing_field(physics: PhysicsConfig, forcing: ForcingConfig) -> np.ndarray | None:
    """f(x) = a·Π_i sin(2π·k·x_i/L_i) at the cell centres of `physics`' grid, ``[*spatial]`` float32;
    None if a = 0."""
    if forcing.amplitude == 0.0:
        return None
    dx = tuple(length / n for length, n in zip(physics.domain, physics.resolution))
    mesh = cell_centres(tuple(physics.resolution), dx)
    f = np.prod([np.sin(2 * np.pi * forcing.wavenumber * x / length) for x, length in zip(mesh, physics.domain)], 0)
    return (forcing.amplitude * f).astype(np.float32)


def noise_key(seed: int) -> jax.Array:
    return jax.random.fold_in(jax.random.PRNGKey(seed), NOISE_STREAM)


def add_noise(traj: np.ndarray, noise: NoiseConfig, key: jax.Array, num_dynamic: int) -> np.ndarray:
    """`traj` ``[N, T, *spatial, C]`` with Gaussian noise of std `noise.std` × (each dynamic channel's std
    over the whole array) added to its dynamic channels; `traj` itself when std = 0. float32."""
    if noise.std == 0.0:
        return traj
    dyn = np.asarray(traj[..., :num_dynamic], np.float64)
    scale = dyn.reshape(-1, num_dynamic).std(axis=0)  # [C_dyn]
    eps = np.asarray(jax.random.normal(key, dyn.shape, jnp.float32), np.float64)
    out = np.array(traj, np.float32)
    out[..., :num_dynamic] = (dyn + noise.std * scale * eps).astype(np.float32)
    return out

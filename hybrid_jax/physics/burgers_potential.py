"""Inviscid Burgers with a learnable potential force, u_t + (u·∇)u = -∇φ(x), periodic, 1–3 dimensions.

Dynamic channels ``vel_x[, vel_y, vel_z]``. The learnable parameter is the potential field
φ ``[*spatial]``; it starts at zero. The true φ is a sum of cosine modes given in the config,
φ(x) = Σ_j a_j cos(2π Σ_d k_jd x_d / L_d + p_j).

Scheme per step of length dt: self-advection of u with PhiFlow (MacCormack with its clamping
limiter, or semi-Lagrangian; both unconditionally stable), then a forward-Euler force step
u ← u - dt·∇φ with the second-order central periodic gradient of φ at the cell centres.
Only ∇φ acts, so φ is determined up to a constant (and, on even grids, up to the ±1 checkerboard
modes that the central gradient does not see); `constrain` fixes the constant by removing the
mean. Units: lengths in domain units, time in the units of dt, φ in length²/time².
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import jax
import jax.numpy as jnp
import numpy as np
from phi import math
from phi.flow import CenteredGrid, advect, channel, extrapolation, spatial

from hybrid_jax.errors import ConfigError
from hybrid_jax.typed_config import option, section
from hybrid_jax.physics._grid import PeriodicBox, central_diff
from hybrid_jax.physics.base import Family, FieldLayout, Params, PeriodicGridConfig
from hybrid_jax.physics.burgers import VelocityPrior
from hybrid_jax.physics.coefficients import cell_centres
from hybrid_jax.physics.operators import FourierBasis


@dataclass(frozen=True)
class Potential:
    wavevectors: tuple[tuple[int, ...], ...] = option(
        ((1, 0), (0, 1), (1, 1)), "integer wavevectors k_j of the true potential "
                                  "φ(x) = Σ_j a_j cos(2π Σ_d k_jd x_d / L_d + p_j), one entry per dimension each")
    amplitudes: tuple[float, ...] = option((0.1, 0.06, -0.04), "amplitudes a_j of φ, one per wavevector "
                                                              "(domain units² / time unit²)")
    phases: tuple[float, ...] = option((), "phases p_j in radians, one per wavevector; empty: all zero")


@dataclass(frozen=True)
class BurgersPotentialConfig(PeriodicGridConfig):
    """Inviscid Burgers with a learnable potential force, u_t + (u·∇)u = -∇φ(x), periodic."""

    name: Literal["burgers_potential"] = option("burgers_potential", "PDE family")
    advection: Literal["maccormack", "semi_lagrangian"] = option(
        "maccormack", "advection scheme: MacCormack (second order, clamped) or first-order semi-Lagrangian")
    potential: Potential = section(Potential, "true potential φ (the learnable field starts at 0)")
    initial_state: VelocityPrior = section(VelocityPrior, "random smooth initial velocities")

    def validate(self):
        p = self.potential
        for i, k in enumerate(p.wavevectors):
            if len(k) != len(self.resolution):
                raise ConfigError(f"physics.potential.wavevectors[{i}]: must have one entry per dimension "
                                  f"({len(self.resolution)}), got {list(k)}")
            if not any(k):
                raise ConfigError(f"physics.potential.wavevectors[{i}]: must not be all zero (a constant "
                                  f"potential exerts no force)")
        if len(p.amplitudes) != len(p.wavevectors):
            raise ConfigError(f"physics.potential.amplitudes: must have one entry per wavevector "
                              f"({len(p.wavevectors)}), got {len(p.amplitudes)}")
        if p.phases and len(p.phases) != len(p.wavevectors):
            raise ConfigError(f"physics.potential.phases: must be empty or have one entry per wavevector "
                              f"({len(p.wavevectors)}), got {len(p.phases)}")


class BurgersPotential(PeriodicBox):
    """Forced inviscid Burgers PDE built from a `BurgersPotentialConfig` (see the module docstring)."""

    positive_params = ()

    def __init__(self, cfg: BurgersPotentialConfig):
        super().__init__(cfg)
        self.layout = FieldLayout(dynamic=tuple(f"vel_{d}" for d in self.dims))
        self._basis = FourierBasis(self.spatial_shape, cfg.initial_state.modes)

    # ---------------------------------------------------------------- parameters

    def init_params(self) -> Params:
        return {"potential": jnp.zeros(self.spatial_shape, jnp.float32)}

    def true_params(self) -> Params:
        """φ(x) = Σ_j a_j cos(2π Σ_d k_jd x_d / L_d + p_j) at the cell centres."""
        p = self.cfg.potential
        phases = p.phases or (0.0,) * len(p.wavevectors)
        mesh = cell_centres(self.spatial_shape, self.dx)
        phi = np.zeros(self.spatial_shape)
        for k, a, ph in zip(p.wavevectors, p.amplitudes, phases):
            arg = sum(2 * np.pi * kd * x / length for kd, x, length in zip(k, mesh, self.cfg.domain))
            phi = phi + a * np.cos(arg + ph)
        return {"potential": jnp.asarray(phi - phi.mean(), jnp.float32)}

    def constrain(self, params: Params) -> Params:
        """Fix the gauge: subtract the mean of φ (a constant exerts no force). No stability bound applies."""
        phi = params["potential"]
        return {**params, "potential": (phi - jnp.mean(phi)).astype(jnp.float32)}

    # ---------------------------------------------------------------- dynamics

    def sample_initial_state(self, key: jax.Array, n: int) -> jax.Array:
        """`n` random smooth periodic velocity fields ``[n, *spatial, d]``, peak |u| = amplitude."""
        return self.cfg.initial_state.sample(self._basis, key, n, len(self.dims))

    def force(self, potential) -> math.Tensor:
        """-∇φ at the cell centres (central differences), a PhiML tensor with a `vector` channel."""
        phi = math.tensor(potential, spatial(",".join(self.dims)))
        return math.stack([-central_diff(phi, h, d) for d, h in zip(self.dims, self.dx)],
                          channel(vector=",".join(self.dims)))

    def step(self, state: jax.Array, params: Params) -> jax.Array:
        """One time step of a single state ``[*spatial, d]`` -> ``[*spatial, d]``."""
        names = ",".join(self.dims)
        u = CenteredGrid(math.tensor(state, spatial(names), channel(vector=names)),
                         extrapolation.PERIODIC, bounds=self._bounds)
        advect_fn = advect.mac_cormack if self.cfg.advection == "maccormack" else advect.semi_lagrangian
        values = advect_fn(u, u, self.cfg.dt).values + self.cfg.dt * self.force(params["potential"])
        return values.native(self.dims + ("vector",)).astype(state.dtype)


FAMILY = Family("burgers_potential", BurgersPotentialConfig, BurgersPotential)

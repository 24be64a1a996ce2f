"""Viscous Burgers, u_t + (u·∇)u = ∇·(ν∇u), periodic, in 1, 2 or 3 dimensions.

Scheme per step of length dt: advection of u by itself with PhiFlow (MacCormack: second order
in space and for linear advection; PhiFlow traces back along the velocity frozen at the start of
the step, so self-advection is first order in time; or semi-Lagrangian, first order), then
`substeps` forward-Euler diffusion substeps of ∇·(ν∇u) (second-order conservative stencil).
ν is a scalar or a field ``[*spatial]``. See docs/physics.md for measured convergence orders.
Units: lengths in domain units, time in the units of dt, ν in length²/time.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import jax
import jax.numpy as jnp
from phi import math
from phi.flow import CenteredGrid, advect, channel, extrapolation, spatial

from hybrid_jax.typed_config import option, positive, section
from hybrid_jax.physics._grid import PeriodicBox, iterate
from hybrid_jax.physics.base import Family, FieldLayout, Params, PeriodicGridConfig, substeps_option
from hybrid_jax.physics.coefficients import LearnedCoefficients, coefficient
from hybrid_jax.physics.operators import FourierBasis, div_k_grad

Viscosity = coefficient("viscosity", "ν", "domain units² / time unit", true=0.01, init=0.03, bump=True,
                        learnable="shape")


@dataclass(frozen=True)
class VelocityPrior:
    """Random smooth periodic initial velocities (shared with `burgers_potential`)."""

    modes: int = option(3, "highest Fourier wavenumber of the random smooth initial states",
                        lambda v: v >= 1, "must be >= 1")
    amplitude: float = positive(1.0, "peak amplitude of the initial velocity (domain units / time unit)")

    def sample(self, basis: FourierBasis, key: jax.Array, n: int, ndim: int) -> jax.Array:
        """`n` random combinations of `basis` per component: ``[n, *spatial, ndim]``, peak |u| = amplitude."""
        coeffs = jax.random.normal(key, (n, ndim, basis.size), jnp.float32)
        u = jnp.moveaxis(basis.combine(coeffs), 1, -1)
        peak = jnp.max(jnp.abs(u), axis=tuple(range(1, u.ndim)), keepdims=True)
        return (self.amplitude * u / peak).astype(jnp.float32)


@dataclass(frozen=True)
class BurgersConfig(PeriodicGridConfig):
    name: Literal["burgers"] = option("burgers", "PDE family")
    substeps: int = substeps_option(2, "explicit diffusion substeps per step")
    advection: Literal["maccormack", "semi_lagrangian"] = option(
        "maccormack", "advection scheme: MacCormack (second order in space; far less numerical diffusion) "
                      "or first-order semi-Lagrangian")
    viscosity: Viscosity = section(Viscosity, "learnable viscosity")
    initial_state: VelocityPrior = section(VelocityPrior, "random smooth initial states")

    def validate(self):
        self.viscosity.check("physics.viscosity", self.diffusion_bound())


class Burgers(PeriodicBox, LearnedCoefficients):
    """Burgers PDE built from a `BurgersConfig`; see the module docstring for the scheme."""

    def __init__(self, cfg: BurgersConfig):
        super().__init__(cfg)
        self.layout = FieldLayout(dynamic=tuple(f"vel_{d}" for d in self.dims))
        self._basis = FourierBasis(self.spatial_shape, cfg.initial_state.modes)

    # ---------------------------------------------------------------- parameters

    @property
    def viscosity_bound(self) -> float:
        """Stability bound of explicit diffusion per substep: ν ≤ 1/(2·dt_sub·Σ 1/dx_d²)."""
        return self.cfg.diffusion_bound()

    def coefficients(self):
        return {"viscosity": self.cfg.viscosity}

    def bounds(self, params):
        return {"viscosity": self.viscosity_bound}

    # ---------------------------------------------------------------- dynamics

    def sample_initial_state(self, key: jax.Array, n: int) -> jax.Array:
        """`n` random smooth periodic velocity fields ``[n, *spatial, d]``, peak |u| = amplitude."""
        return self.cfg.initial_state.sample(self._basis, key, n, len(self.dims))

    def step(self, state: jax.Array, params: Params) -> jax.Array:
        """One time step of a single state ``[*spatial, d]`` -> ``[*spatial, d]``."""
        names = ",".join(self.dims)
        u = CenteredGrid(math.tensor(state, spatial(names), channel(vector=names)),
                         extrapolation.PERIODIC, bounds=self._bounds)
        advect_fn = advect.mac_cormack if self.cfg.advection == "maccormack" else advect.semi_lagrangian
        order = self.dims + ("vector",)
        nu = params["viscosity"]
        nu = math.tensor(nu, spatial(names)) if nu.ndim else nu
        dt_sub = self.cfg.dt / self.cfg.substeps

        def diffuse(x):
            v = math.tensor(x, spatial(names), channel(vector=names))
            return (v + dt_sub * div_k_grad(v, nu, self.dx, self.dims)).native(order).astype(state.dtype)

        advected = advect_fn(u, u, self.cfg.dt).values.native(order).astype(state.dtype)
        return iterate(diffuse, self.cfg.substeps, advected)


FAMILY = Family("burgers", BurgersConfig, Burgers)

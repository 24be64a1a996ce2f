"""Viscous Burgers, u_t + (u·∇)u = ∇·(ν∇u), periodic, in 1, 2 or 3 dimensions.

Scheme per step of length dt: advection of u by itself with PhiFlow (MacCormack: second order
in space and for linear advection; PhiFlow traces back along the velocity frozen at the start of
the step, so self-advection is first order in time; or semi-Lagrangian, first order), then
`substeps` forward-Euler diffusion substeps of ∇·(ν∇u) (second-order conservative stencil).
ν is a scalar or a field ``[*spatial]``. See docs/physics.md for measured convergence orders.
Units: lengths in domain units, time in the units of dt, ν in length²/time.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from phi import math
from phi.flow import CenteredGrid, advect, channel, extrapolation, spatial

from hybrid_jax.config import BurgersConfig
from hybrid_jax.physics._grid import PeriodicBox, gaussian_bump, iterate
from hybrid_jax.physics.base import FieldLayout, Params
from hybrid_jax.physics.operators import div_k_grad, explicit_diffusion_bound, fourier_basis


class Burgers(PeriodicBox):
    """Burgers PDE built from a `BurgersConfig`; see the module docstring for the scheme."""

    positive_params = ("viscosity",)

    def __init__(self, cfg: BurgersConfig):
        super().__init__(cfg)
        self.layout = FieldLayout(dynamic=tuple(f"vel_{d}" for d in self.dims))
        self._basis = fourier_basis(self.spatial_shape, cfg.initial_state.modes)

    # ---------------------------------------------------------------- parameters

    @property
    def viscosity_bound(self) -> float:
        """Stability bound of explicit diffusion per substep: ν ≤ 1/(2·dt_sub·Σ 1/dx_d²)."""
        return explicit_diffusion_bound(self.dx, self.cfg.dt / self.cfg.substeps)

    def _field_or_scalar(self, value) -> jax.Array:
        if self.cfg.viscosity.learnable == "field":
            return jnp.full(self.spatial_shape, value, jnp.float32)
        return jnp.asarray(value, jnp.float32)

    def init_params(self) -> Params:
        return {"viscosity": self._field_or_scalar(self.cfg.viscosity.init)}

    def true_params(self) -> Params:
        """True ν: a scalar, or a field when a bump is configured or the learnable ν is a field."""
        v = self.cfg.viscosity
        if v.bump == 0.0:
            return {"viscosity": self._field_or_scalar(v.true)}
        bump = gaussian_bump(self.spatial_shape, self.dx, self.cfg.domain)
        return {"viscosity": jnp.asarray(v.true * (1 + v.bump * bump), jnp.float32)}

    def constrain(self, params: Params) -> Params:
        """Clip ν into (0, stability bound]."""
        nu = jnp.clip(params["viscosity"], 1e-8, self.viscosity_bound)
        return {**params, "viscosity": nu.astype(jnp.float32)}

    # ---------------------------------------------------------------- dynamics

    def sample_initial_state(self, key: jax.Array, n: int) -> jax.Array:
        """`n` random smooth periodic velocity fields ``[n, *spatial, d]``, peak |u| = amplitude."""
        basis = jnp.asarray(self._basis)
        coeffs = jax.random.normal(key, (n, len(self.dims), basis.shape[0]), jnp.float32)
        u = jnp.einsum("ncm,m...->n...c", coeffs, basis)
        peak = jnp.max(jnp.abs(u), axis=tuple(range(1, u.ndim)), keepdims=True)
        return (self.cfg.initial_state.amplitude * u / peak).astype(jnp.float32)

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

        return iterate(diffuse, self.cfg.substeps, advect_fn(u, u, self.cfg.dt).values.native(order).astype(state.dtype))
